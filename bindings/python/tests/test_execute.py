"""execute_code in both modes: results, limits as statuses, artifacts, bad arguments."""

import struct
import zlib
from pathlib import Path

import pytest

from conftest import run
from soulbox import ConfigError, ExecutionResult, SandboxConfig, UnknownLanguage

JS_HELLO = "console.log('hello from js')"


def test_the_seeds_example_shape(make_box):
    async def main():
        config = SandboxConfig(memory_limit=512 * 1024 * 1024, cpu_quota=0.5, timeout=30)
        async with make_box(config) as sandbox:
            result = await sandbox.execute_code(language="python", code="print(sum(range(10)))")
            return result

    result = run(main())
    assert isinstance(result, ExecutionResult)
    assert result.status == "ok" and result.ok
    assert result.stdout == "45\n"
    assert result.stderr == ""
    assert result.exit_code == 0
    assert 0 < result.execution_time < 30_000  # milliseconds
    assert result.memory_usage > 0
    assert result.fuel_consumed > 0
    assert "wasm" in result.isolation
    assert result.error is None and result.value is None
    assert result.kind == "result"


def test_to_dict_has_the_engines_fields(make_box):
    async def main():
        async with make_box() as sandbox:
            return await sandbox.execute_code("javascript", JS_HELLO)

    d = run(main()).to_dict()
    assert d["status"] == "ok"
    assert d["stdout"] == "hello from js\n"
    assert set(d) == {
        "status", "stdout", "stderr", "exit_code", "execution_time", "memory_usage",
        "fuel_consumed", "artifacts", "error", "isolation", "value", "tool_calls", "network",
    }
    assert d["artifacts"] == []


def test_a_guest_error_is_a_result_with_status_error(make_box):
    async def main():
        async with make_box() as sandbox:
            return await sandbox.execute_code("python", "import sys\nprint('out')\nsys.exit(3)")

    r = run(main())
    assert r.status == "error"
    assert r.exit_code == 3
    assert r.stdout == "out\n"


@pytest.mark.parametrize(
    "config, code, status",
    [
        (SandboxConfig(timeout=1), "for (;;) {}", "timeout"),
        (SandboxConfig(memory_limit=32 * 1024 * 1024), "const a = []; for (;;) a.push(new Array(100000).fill(1));", "memory_limit"),
        (SandboxConfig(fuel=20_000_000), "let i = 0; for (;;) i++;", "fuel_exhausted"),
        (SandboxConfig(max_output_bytes=1000), "for (;;) console.log('flood flood flood');", "output_limit"),
    ],
    ids=["timeout", "memory", "fuel", "output"],
)
def test_limits_are_statuses_not_exceptions(make_box, config, code, status):
    async def main():
        async with make_box(config) as sandbox:
            first = await sandbox.execute_code("javascript", code)
            # The sandbox survives its guest breaking a limit.
            after = await sandbox.execute_code("javascript", JS_HELLO)
            return first, after

    r, after = run(main())
    assert r.status == status, r.to_dict()
    if status != "memory_limit":  # QuickJS exits by itself (code 1) when an allocation fails
        assert r.exit_code is None
    assert r.error
    assert after.status == "ok" and after.stdout == "hello from js\n"


def _png(width=2, height=2):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_artifact_bytes_equal_the_file(make_box):
    png = _png()

    async def main():
        async with make_box() as sandbox:
            await sandbox.write_file("input.bin", png)
            code = (
                "data = open('input.bin', 'rb').read()\n"
                "open('copy.png', 'wb').write(data)\n"
                "open('notes.txt', 'w').write('n' * 5000)\n"
            )
            result = await sandbox.execute_code("python", code)
            on_disk = await sandbox.read_file("copy.png")
            notes = await sandbox.read_file("notes.txt")
            return result, on_disk, notes

    result, on_disk, notes = run(main())
    assert result.status == "ok", result.to_dict()
    by_path = {a.path: a for a in result.artifacts}
    assert set(by_path) == {"copy.png", "notes.txt"}
    image = by_path["copy.png"]
    assert image.mime_type == "image/png" and image.is_image
    assert image.size == len(png)
    assert image.data == png == on_disk
    assert by_path["notes.txt"].data == notes == b"n" * 5000
    assert by_path["notes.txt"].to_dict()["size"] == 5000
    assert result.to_dict()["artifacts"][0]["data"] in (png, notes)


def test_artifact_bytes_over_the_cap_are_left_out(make_box):
    async def main():
        async with make_box(SandboxConfig(max_artifact_bytes=100)) as sandbox:
            return await sandbox.execute_code("python", "open('big.txt', 'w').write('x' * 1000)")

    r = run(main())
    (artifact,) = r.artifacts
    assert artifact.size == 1000 and artifact.data is None


def test_bytes_code_runs_a_wasm_module(make_box):
    hello = Path(__file__).resolve().parents[3] / "examples" / "hello.wat"

    async def main():
        async with make_box() as sandbox:
            return await sandbox.execute_code("wasm", hello.read_bytes())

    r = run(main())
    assert r.status == "ok", r.to_dict()
    assert r.stdout


@pytest.mark.parametrize("language", ["cobol", "", "python3.99"])
def test_unknown_language_is_a_value_error_naming_the_accepted_ones(make_box, language):
    sandbox = make_box()
    with pytest.raises(UnknownLanguage) as caught:
        run(sandbox.execute_code(language, "x"))
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ConfigError)
    assert "unknown language" in str(caught.value)
    assert "javascript" in str(caught.value)


def test_bad_argument_types_are_type_errors(make_box):
    sandbox = make_box()
    with pytest.raises(TypeError):
        sandbox.execute_code("python", 42)
    with pytest.raises(TypeError):
        sandbox.execute_code(language="python")


def test_empty_code_is_a_config_error_from_the_engine(make_box):
    async def main():
        async with make_box() as sandbox:
            await sandbox.execute_code("wasm", b"")

    with pytest.raises(ConfigError):
        run(main())
