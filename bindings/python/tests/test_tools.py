"""Tool calling from Python: register_tool (Python callables called by guest code and by a
model's tool calls), tools() in OpenAI shape, execute_tool_call - async SoulBox and sync Sandbox."""

import asyncio
import json

import pytest

from conftest import TOKEN, run
from soulbox import ConfigError, Sandbox, SandboxConfig, SoulBox, Unsupported

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def weather(city):
    if city == "Atlantis":
        raise LookupError(f"no weather station in {city}")
    return {"city": city, "temp_c": 21}


def test_tools_is_an_openai_tools_array_with_the_registered_tools():
    with Sandbox(SandboxConfig(timeout=30)) as sandbox:
        sandbox.register_tool("weather", "Current weather in a city", WEATHER_SCHEMA, weather)
        tools = sandbox.tools()
        assert [t["function"]["name"] for t in tools] == [
            "run_code",
            "write_file",
            "read_file",
            "list_files",
            "weather",
        ]
        assert all(t["type"] == "function" for t in tools)
        assert tools[0]["function"]["parameters"]["required"] == ["language", "code"]
        assert tools[4]["function"] == {
            "name": "weather",
            "description": "Current weather in a city",
            "parameters": WEATHER_SCHEMA,
        }
        json.dumps(tools)  # ready to send as is


def test_execute_tool_call_runs_a_models_calls():
    with Sandbox(SandboxConfig(timeout=30)) as sandbox:
        sandbox.register_tool("weather", "Current weather in a city", WEATHER_SCHEMA, weather)
        # Arguments as the JSON text a model sends...
        answer = sandbox.execute_tool_call("run_code", '{"language": "python", "code": "print(6*7)"}')
        assert answer["status"] == "ok" and answer["stdout"] == "42\n" and answer["exit_code"] == 0
        # ... or as a dict.
        assert sandbox.execute_tool_call("write_file", {"path": "n.txt", "content": "x"}) == {"path": "n.txt", "bytes": 1}
        assert sandbox.execute_tool_call("read_file", {"path": "n.txt"})["content"] == "x"
        assert sandbox.execute_tool_call("weather", '{"city": "Paris"}') == {"city": "Paris", "temp_c": 21}
        # Failures are answers the model can read, not exceptions.
        assert sandbox.execute_tool_call("weather", {"city": "Atlantis"}) == {
            "error": "LookupError: no weather station in Atlantis",
            "kind": "handler",
        }
        assert sandbox.execute_tool_call("weather", {"city": 3})["kind"] == "invalid_arguments"
        assert sandbox.execute_tool_call("nope", {})["kind"] == "unknown_tool"
        assert sandbox.execute_tool_call("run_code", "{oops")["kind"] == "invalid_arguments"


def test_the_async_soulbox_has_the_same_api():
    async def main():
        async with SoulBox(SandboxConfig(timeout=30)) as sandbox:

            @sandbox.register_tool("add", "Adds two numbers", {"type": "object", "required": ["a", "b"]})
            async def add(a, b):
                await asyncio.sleep(0)
                return a + b

            assert add.__name__ == "add"  # the decorator hands the function back
            names = [t["function"]["name"] for t in sandbox.tools()]
            answer = await sandbox.execute_tool_call("add", {"a": 2, "b": 40})
            run_answer = await sandbox.execute_tool_call(
                "run_code", {"language": "javascript", "code": "console.log(6 * 7)"}
            )
            # Guest code awaits the async handler on this very loop while execute_code runs.
            result = await sandbox.execute_code(
                "python", "import soulbox\nprint(soulbox.call_tool('add', a=20, b=22))"
            )
            return names, answer, run_answer, result

    names, answer, run_answer, result = run(main())
    assert names[-1] == "add"
    assert answer == 42
    assert run_answer["stdout"] == "42\n", run_answer
    assert result.stdout == "42\n", result.stderr
    assert result.tool_calls[0]["name"] == "add" and result.tool_calls[0]["ok"]


def test_guest_code_calls_python_callables():
    calls = []

    def record(city):
        calls.append(city)
        return weather(city)

    with Sandbox(SandboxConfig(timeout=30)) as sandbox:
        sandbox.register_tool("weather", "Current weather in a city", WEATHER_SCHEMA, record)
        code = "\n".join(
            [
                "import soulbox",
                "print(soulbox.call_tool('weather', city='Paris')['temp_c'])",
                "print(soulbox.tools.weather(city='Oslo')['city'])",
                "try:",
                "    soulbox.call_tool('weather', city='Atlantis')",
                "except soulbox.ToolError as e:",
                "    print('handler error:', e.kind, e)",
                "try:",
                "    soulbox.call_tool('weather', town='Paris')",
                "except soulbox.ToolError as e:",
                "    print('schema error:', e.kind)",
            ]
        )
        result = sandbox.execute_code("python", code)
        assert result.status == "ok", result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "21"
        assert lines[1] == "Oslo"
        assert lines[2].startswith("handler error: handler") and "no weather station in Atlantis" in lines[2]
        assert lines[3] == "schema error: invalid_arguments"
        # The schema violation never reached the handler.
        assert calls == ["Paris", "Oslo", "Atlantis"]
        # Every call is recorded in the result.
        records = result.tool_calls
        assert [(r["name"], r["ok"]) for r in records] == [
            ("weather", True),
            ("weather", True),
            ("weather", False),
            ("weather", False),
        ]
        assert json.loads(records[0]["arguments"]) == {"city": "Paris"}
        assert records[0]["duration"] >= 0
        assert "no weather station" in records[2]["error"]
        assert result.to_dict()["tool_calls"] == records


def test_handler_results_must_be_json_and_bad_registrations_are_refused():
    with Sandbox() as sandbox:
        sandbox.register_tool("bad", "returns a set", None, lambda: {1, 2})
        answer = sandbox.execute_tool_call("bad", {})
        assert answer["kind"] == "handler" and "not JSON" in answer["error"], answer
        sandbox.register_tool("kw", "wrong signature", None, lambda: 1)
        answer = sandbox.execute_tool_call("kw", {"surprise": 1})
        assert answer["kind"] == "handler" and "TypeError" in answer["error"], answer
        with pytest.raises(ConfigError):
            sandbox.register_tool("has space", "bad name", None, weather)
        with pytest.raises(ConfigError):
            sandbox.register_tool("t", "bad schema", {"type": "nonsense"}, weather)
        with pytest.raises(ConfigError):
            sandbox.register_tool("t", "not callable", None, 42)
        with pytest.raises((ConfigError, TypeError, ValueError)):
            sandbox.register_tool("t", "schema not JSON", {"x": {1, 2}}, weather)


def test_remote_sandboxes_refuse_tool_calling_clearly():
    # Refused before any connection is tried: no server is listening there.
    sandbox = Sandbox.connect("http://127.0.0.1:9", token=TOKEN)
    for call in (
        lambda: sandbox.register_tool("weather", "", WEATHER_SCHEMA, weather),
        lambda: sandbox.tools(),
        lambda: sandbox.execute_tool_call("run_code", "{}"),
    ):
        with pytest.raises(Unsupported, match="not supported over gRPC yet"):
            call()
    box = SoulBox.connect("http://127.0.0.1:9", token=TOKEN)
    with pytest.raises(Unsupported):
        run(box.execute_tool_call("run_code", "{}"))
