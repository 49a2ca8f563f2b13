// Drives SoulBox's E2B-compatible API with the official, unmodified E2B JavaScript SDK
// (@e2b/code-interpreter). Prints one JSON object of observations.
import { Sandbox } from '@e2b/code-interpreter'
const out = {}
const sbx = await Sandbox.create()
out.answer = (await sbx.runCode('x = 41\nx + 1')).text
const seen = []
await sbx.runCode("import sys\nfor i in range(2):\n    print('l', i)\n    sys.stdout.flush()", { onStdout: (m) => seen.push(m.line) })
out.seen = seen
const fig = await sbx.runCode("import matplotlib.pyplot as plt\nplt.plot([1,2])\nplt.show()")
out.png = fig.results.filter(r => r.png).length
out.err = (await sbx.runCode('1/0')).error?.name
await sbx.files.write('/home/user/a.txt', 'hello js')
out.read = await sbx.files.read('/home/user/a.txt')
out.list = (await sbx.files.list('/home/user')).map(e => e.name)
try { await sbx.commands.run('echo hi'); out.cmd = 'ran' } catch (e) { out.cmd = e.constructor.name + ': ' + e.message }
await sbx.setTimeout(60000)
out.info = (await sbx.getInfo()).state
out.killed = await sbx.kill()
console.log(JSON.stringify(out))
