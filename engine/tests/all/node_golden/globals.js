// Web and Node globals.
const enc = new TextEncoder();
const bytes = enc.encode('héllo €');
console.log(bytes, new TextDecoder().decode(bytes), new TextDecoder('utf-8').decode(new Uint8Array([0xe2, 0x82, 0xac])));
const original = { d: new Date(0), m: new Map([[1, { x: [1] }]]), s: new Set([1]), nested: { arr: [1, 2] } };
const clone = structuredClone(original);
console.log(clone, clone.m.get(1) !== original.m.get(1), clone.d instanceof Date);
try { structuredClone({ f() {} }); } catch (e) { console.log(e.name); }
console.log(btoa('hello'), atob('aGVsbG8='), typeof performance.now(), performance.now() >= 0);
console.log(typeof setTimeout, typeof setImmediate, typeof queueMicrotask, typeof structuredClone, typeof fetch);
console.log(typeof process, typeof Buffer, typeof URL, typeof URLSearchParams, typeof TextEncoder, typeof global, global === globalThis);
console.log(typeof require, typeof module, typeof exports, typeof crypto.randomUUID, typeof crypto.getRandomValues);
console.log(new URLSearchParams({ a: '1', b: 'x y' }).toString(), [...new URLSearchParams('a=1&a=2').getAll('a')]);
console.log(typeof process.argv, process.argv.length >= 1, typeof process.env, process.platform, typeof process.pid);
console.log(typeof process.hrtime(), typeof process.hrtime.bigint(), typeof process.uptime(), typeof process.memoryUsage().rss);
console.log(typeof process.cwd(), process.exitCode, typeof process.nextTick, typeof process.stdout.write);
process.stdout.write('written without newline');
process.stdout.write(' - and a newline\n');
process.stderr.write('to stderr\n');
