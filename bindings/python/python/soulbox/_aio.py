"""The asyncio side of the native module.

``run`` turns a pending native operation into a coroutine: ``asyncio.create_task``,
``asyncio.gather`` and ``asyncio.wait_for`` accept it, it starts nothing until awaited (so it can
be made outside a running loop), and Python warns when one is never awaited.

``completions`` gives each event loop the object through which finished operations come back:
the engine's threads never run Python code; they queue the result and wake the loop through a
socket it watches, and the loop's own thread resolves the future.
"""

import asyncio
import weakref

from soulbox._native import _Completions

_by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Completions]" = weakref.WeakKeyDictionary()


async def run(pending):
    return await pending


def completions():
    loop = asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        found = _Completions()
        loop.add_reader(found.fileno(), found.drain)
        _by_loop[loop] = found
    return loop, found
