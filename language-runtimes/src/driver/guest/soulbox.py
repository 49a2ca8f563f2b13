"""SoulBox's door to the host: the tools the host registered, and HTTP to allowed hosts.

    import soulbox
    soulbox.call_tool("weather", city="Paris")      # -> the tool's JSON value
    soulbox.tools.weather(city="Paris")             # the same
    soulbox.list_tools()                            # [{"name", "description", "parameters"}, ...]

A failed call raises soulbox.ToolError with .kind (unknown_tool, invalid_arguments, handler,
timeout, limit, payload, protocol, denied, network, unavailable) and the host's message.
"""

import json as _json

from _host import call as _door


class ToolError(Exception):
    """A tool call (or HTTP request) the host refused or that failed."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self):
        return "%s: %s" % (self.kind, self.message)


def _frame(request):
    """Sends one request to the host; returns its value or raises ToolError."""
    try:
        data = _json.dumps(request, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ToolError("invalid_arguments", "the arguments are not JSON: %s" % e) from None
    try:
        reply = _door(data)
    except ConnectionRefusedError:
        raise ToolError("unavailable", "this sandbox offers no host tools or network") from None
    except OSError as e:
        raise ToolError("protocol", "the host channel failed: %s" % e) from None
    try:
        answer = _json.loads(bytes(reply))
    except ValueError:
        raise ToolError("protocol", "the host's reply is not JSON") from None
    if answer.get("ok"):
        return answer.get("value")
    raise ToolError(answer.get("kind", "protocol"), answer.get("error", ""))


def call_tool(name, arguments=None, /, **kwargs):
    """Calls the host tool `name` with a dict of arguments and/or keyword arguments."""
    args = {}
    if arguments is not None:
        if not isinstance(arguments, dict):
            raise TypeError("call_tool arguments must be a dict, got %s" % type(arguments).__name__)
        args.update(arguments)
    args.update(kwargs)
    return _frame({"op": "call", "name": name, "arguments": args})


def list_tools():
    """The host's tools: a list of {"name", "description", "parameters"}."""
    return _frame({"op": "list"})


class _Tools:
    """soulbox.tools.NAME(**kwargs) calls the host tool NAME."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def tool(arguments=None, /, **kwargs):
            return call_tool(name, arguments, **kwargs)

        tool.__name__ = tool.__qualname__ = name
        return tool

    def __dir__(self):
        return sorted(t["name"] for t in list_tools())


tools = _Tools()
