// Timer and microtask ordering (deterministic cases only).
const log = (m) => console.log(m);
log('sync 1');
setTimeout(() => log('timeout 300'), 300);
setTimeout(() => {
  log('timeout 0');
  setImmediate(() => log('immediate from timeout'));
  setTimeout(() => log('timeout from timeout'), 0);
  process.nextTick(() => log('tick from timeout'));
  Promise.resolve().then(() => log('promise from timeout'));
}, 0);
Promise.resolve().then(() => log('promise 1')).then(() => log('promise 2'));
queueMicrotask(() => log('microtask'));
process.nextTick(() => log('tick 1'));
process.nextTick(() => { log('tick 2'); Promise.resolve().then(() => log('promise from tick')); });
(async () => { log('async start'); await null; log('after await'); await new Promise((r) => setTimeout(r, 50)); log('after sleep'); })();
let n = 0;
const iv = setInterval(() => { n += 1; log(`interval ${n}`); if (n === 3) clearInterval(iv); }, 120);
const cancelled = setTimeout(() => log('never'), 10);
clearTimeout(cancelled);
const t = setTimeout(() => log('unref never keeps alive'), 100000);
t.unref();
require('timers/promises').setTimeout(150, 'value').then((v) => log(`timers/promises ${v}`));
require('util').promisify(setTimeout)(180).then(() => log('promisified'));
log('sync 2');
process.on('exit', (code) => log(`exit ${code}`));
