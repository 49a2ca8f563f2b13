# Drives SoulBox's E2B-compatible API with the official, unmodified e2b-code-interpreter SDK.
# Prints one JSON object of observations; the Rust test asserts on it.
import json, os, sys, time
from e2b_code_interpreter import Sandbox
from e2b import TimeoutException, NotFoundException, CommandExitException

out = {}

def name(e):
    return type(e).__name__

sbx = Sandbox.create()
out["id"] = sbx.sandbox_id
ex = sbx.run_code("x = 41\nx + 1")
out["answer"] = ex.text
out["state"] = sbx.run_code("x * 2").text
seen = []
ex = sbx.run_code("import sys\nfor i in range(3):\n    print('line', i)\n    sys.stdout.flush()", on_stdout=lambda m: seen.append(m.line))
out["stdout_callbacks"] = seen
out["stdout_logs"] = ex.logs.stdout
ex = sbx.run_code(
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()")
pngs = [r.png for r in ex.results if r.png]
out["png_results"] = len(pngs)
import base64
out["png_magic"] = base64.b64decode(pngs[0])[:8].hex() if pngs else None
ex = sbx.run_code("1 / 0")
out["error_name"] = ex.error.name if ex.error else None
out["error_value"] = ex.error.value if ex.error else None
out["count"] = ex.execution_count
# Other languages, and a second context keeping its own state.
ctx = sbx.create_code_context(language="python")
sbx.run_code("x = 'other'", context=ctx)
out["ctx_x"] = sbx.run_code("x", context=ctx).text
out["default_x"] = sbx.run_code("x").text
out["js"] = sbx.run_code("let a = 20; a + 22", language="javascript").text
out["js_state"] = sbx.run_code("a * 2", language="javascript").text
out["ruby"] = sbx.run_code("[1, 2, 3].sum", language="ruby").text
# Packages: a %pip install cell, then the package imports in the next cell.
ex = sbx.run_code("%pip install idna")
out["pip_cell_error"] = ex.error.value if ex.error else None
out["pip_then_import"] = sbx.run_code("import idna\nidna.encode('ドメイン.テスト').decode()").text
try:
    sbx.create_code_context(language="r")
    out["r_context"] = "created"
except Exception as e:
    out["r_context"] = [name(e), str(e)]
out["contexts"] = len(sbx.list_code_contexts())
# Files, with /home/user paths.
info = sbx.files.write("/home/user/data/notes.txt", "hello from the SDK")
out["write_path"] = info.path
out["read"] = sbx.files.read("/home/user/data/notes.txt")
out["list"] = sorted(e.name for e in sbx.files.list("/home/user/data"))
out["code_reads_file"] = sbx.run_code("open('data/notes.txt').read()").text
sbx.run_code("open('made.txt', 'w').write('by code')")
out["sdk_reads_code_file"] = sbx.files.read("/home/user/made.txt")
out["exists"] = [sbx.files.exists("/home/user/made.txt"), sbx.files.exists("/home/user/nope.txt")]
out["make_dir"] = sbx.files.make_dir("/home/user/newdir")
sbx.files.rename("/home/user/made.txt", "/home/user/newdir/moved.txt")
out["renamed"] = sbx.files.read("/home/user/newdir/moved.txt")
sbx.files.remove("/home/user/newdir")
out["removed"] = sbx.files.exists("/home/user/newdir")
out["bytes_round_trip"] = bytes(sbx.files.read("/home/user/data/notes.txt", format="bytes")) == b"hello from the SDK"
try:
    sbx.files.read("/home/user/missing.txt")
    out["missing"] = "read"
except Exception as e:
    out["missing"] = name(e)
try:
    sbx.files.read("/etc/passwd")
    out["outside"] = "read"
except Exception as e:
    out["outside"] = [name(e), str(e)]
# Commands (the native backend; the test says whether the server allows it).
try:
    r = sbx.commands.run("echo hi")
    out["command"] = [r.exit_code, r.stdout]
except Exception as e:
    out["command"] = [name(e), str(e)]
try:
    sbx.commands.run("exit 3")
    out["command_fail"] = "no exception"
except CommandExitException as e:
    out["command_fail"] = ["CommandExitException", e.exit_code]
except Exception as e:
    out["command_fail"] = [name(e), str(e)]
# A cell that outlives the SDK's timeout: the SDK's TimeoutException, and the sandbox keeps working.
t0 = time.time()
try:
    sbx.run_code("while True:\n    pass", timeout=3)
    out["cell_timeout"] = "returned"
except TimeoutException as e:
    out["cell_timeout"] = "TimeoutException"
after = sbx.run_code("6 * 7")
out["after_timeout"] = after.text
out["restart_note"] = any("restarted" in l for l in after.logs.stderr)
out["after_timeout_s"] = round(time.time() - t0, 1)
# Lifecycle and tenancy.
sbx.set_timeout(120)
out["info_state"] = str(sbx.get_info().state)
out["listed"] = sbx.sandbox_id in [s.sandbox_id for s in Sandbox.list().next_items()]
other = os.environ["OTHER_KEY"]
out["other_sees"] = sbx.sandbox_id in [s.sandbox_id for s in Sandbox.list(api_key=other).next_items()]
out["other_kill"] = Sandbox.kill(sbx.sandbox_id, api_key=other)
# Paging: two sandboxes, one per page; creation-time envs reach the code.
second = Sandbox.create(envs={"SOULBOX_E2B_TEST": "from-create"})
out["env_in_code"] = second.run_code("import os\nos.environ.get('SOULBOX_E2B_TEST')").text
pages, paginator = [], Sandbox.list(limit=1)
while paginator.has_next:
    pages.append([s.sandbox_id for s in paginator.next_items()])
out["pages"] = sorted(pages) == sorted([[sbx.sandbox_id], [second.sandbox_id]])
second.kill()
# The async SDK, same server.
import asyncio
from e2b_code_interpreter import AsyncSandbox
async def use_async():
    a = await AsyncSandbox.create()
    text = (await a.run_code("sum(range(10))")).text
    await a.kill()
    return text
out["async"] = asyncio.run(use_async())
try:
    Sandbox.connect(sbx.sandbox_id, api_key=other)
    out["other_connect"] = "connected"
except Exception as e:
    out["other_connect"] = name(e)
again = Sandbox.connect(sbx.sandbox_id)
out["reconnected"] = again.run_code("6 * 7").text
out["running"] = sbx.is_running()
out["killed"] = sbx.kill()
out["running_after_kill"] = sbx.is_running()
try:
    sbx.run_code("1")
    out["after_kill"] = "ran"
except Exception as e:
    out["after_kill"] = name(e)
print(json.dumps(out))
