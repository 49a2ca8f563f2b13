"""How SoulBox calls a Python tool handler (used by ``register_tool``; not public API).

The engine checks a call's arguments against the tool's JSON Schema first, then runs
``bind(handler)(arguments_json)`` on a worker thread. The handler gets the arguments as keyword
arguments (``def weather(city): ...``; a handler taking ``**kwargs`` gets them all); an
``async def`` handler, or one returning an awaitable, is awaited - on the event loop that was
running when the tool was registered if it still runs, else on a fresh loop. The return value
must be JSON-serialisable (``json.dumps``); an exception becomes the guest's tool error,
``"ExceptionType: message"``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any, Callable, Optional, Tuple


def dumps(value: Any) -> str:
    """JSON text of ``value``, strict (no NaN/Infinity, which other JSON readers refuse)."""
    return json.dumps(value, allow_nan=False)


def loads(text: str) -> Any:
    """The Python value of JSON ``text``."""
    return json.loads(text)


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _await(awaitable: Any, loop: Optional[asyncio.AbstractEventLoop]) -> Any:
    if loop is not None and loop.is_running() and not loop.is_closed():
        return asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), loop).result()
    return asyncio.run(_as_coroutine(awaitable))


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable


def bind(handler: Callable[..., Any]) -> Callable[[str], Tuple[bool, str]]:
    """The function the engine calls for ``handler``: JSON text in, ``(ok, json_or_message)`` out."""
    loop = _running_loop()

    def invoke(arguments: str) -> Tuple[bool, str]:
        try:
            args = json.loads(arguments)
            result = handler(**args) if isinstance(args, dict) else handler(args)
            if inspect.isawaitable(result):
                result = _await(result, loop)
        except Exception as error:  # the guest sees it as its tool error
            return False, f"{type(error).__name__}: {error}"
        try:
            return True, dumps(result)
        except (TypeError, ValueError) as error:
            return False, f"the tool returned a value that is not JSON: {error}"

    return invoke


class Register:
    """``register_tool`` as a decorator: ``@sandbox.register_tool("name", "what it does", schema)``."""

    def __init__(self, register: Callable[..., None], name: str, description: str, parameters: Any):
        self._register = register
        self._args = (name, description, parameters)

    def __call__(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        self._register(*self._args, handler)
        return handler
