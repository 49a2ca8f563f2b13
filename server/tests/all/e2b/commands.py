# commands.run on SoulBox's native backend through the unmodified E2B SDK.
import json, time
from e2b_code_interpreter import Sandbox
from e2b import CommandExitException

out = {}
def name(e):
    return type(e).__name__

sbx = Sandbox.create()
try:
    r = sbx.commands.run("echo hi; echo oops >&2; echo $GREETING", envs={"GREETING": "hello"})
    out["run"] = [r.exit_code, r.stdout, r.stderr]
except Exception as e:
    out["run"] = [name(e), str(e)]
try:
    sbx.commands.run("exit 3")
    out["fail"] = "no exception"
except CommandExitException as e:
    out["fail"] = ["CommandExitException", e.exit_code]
except Exception as e:
    out["fail"] = [name(e), str(e)]
sbx.files.write("/home/user/in.txt", "from the SDK")
try:
    out["sees_workspace"] = sbx.commands.run("cat in.txt && echo made > out.txt").stdout
    out["sdk_sees_output"] = sbx.files.read("/home/user/out.txt")
except Exception as e:
    out["sees_workspace"] = [name(e), str(e)]
try:
    handle = sbx.commands.run("sleep 30", background=True)
    time.sleep(0.5)
    out["listed"] = [p.pid for p in sbx.commands.list()] == [handle.pid]
    out["kill"] = handle.kill()
    try:
        handle.wait()
        out["killed_wait"] = "exited"
    except CommandExitException as e:
        out["killed_wait"] = ["CommandExitException", e.exit_code]
    out["listed_after"] = len(sbx.commands.list())
except Exception as e:
    out["background"] = [name(e), str(e)]
sbx.kill()
print(json.dumps(out))
