// Formatting of values by console.log, as util.inspect does it.
class Point { constructor(x, y) { this.x = x; this.y = y; } }
class Empty {}
class Base {}
class Derived extends Base {}
const circular = { name: 'loop' };
circular.self = circular;
const sparse = [1, , 3];
const withProps = [1, 2];
withProps.extra = 'yes';
const values = [
  'a string', 42, -0, 3.14, NaN, Infinity, 10n, true, null, undefined, Symbol('sym'),
  { a: 1, b: [1, 2] }, [1, 2, 3].map((x) => x * 2), [], {}, [[1, [2, [3, [4, [5]]]]]],
  { a: { b: { c: { d: { e: 1 } } } } }, new Map([['k', 1], ['j', { deep: true }]]), new Set([1, 'two', [3]]),
  new Map(), new Set(), new Point(1, 2), new Empty(), [new Point(3, 4)], Point, Derived, function named() {},
  () => {}, async function asyncFn() {}, function* gen() {}, circular, sparse, withProps,
  Object.create(null), Object.assign(Object.create(null), { x: 1 }), new Date(0), new Date(NaN), /re+g/gi,
  new Uint8Array([1, 2, 3]), new Float64Array(2), Buffer.from('hi there'), new ArrayBuffer(3),
  { 'needs quotes': 1, valid_id: 2, 3: 'three', [Symbol('s')]: 'sym' }, ["it's", 'say "hi"', 'both \' and "'],
  'line\nbreak', ['line\nbreak', 'tab\there'], new Number(5), new String('boxed'), new Boolean(false),
  Array.from({ length: 30 }, (_, i) => i * 3), Array.from({ length: 120 }, (_, i) => i),
  Array.from({ length: 8 }, (_, i) => 'item' + i), 'x'.repeat(100), ['x'.repeat(100)],
  { long1: 'a'.repeat(30), long2: 'b'.repeat(30), long3: 'c'.repeat(30) },
  { get g() { return 1; }, set s(v) {}, get gs() { return 1; }, set gs(v) {} },
  new WeakMap(), Promise.resolve(7), Promise.reject(new Error('r')).catch(() => {}) && new Promise(() => {}),
  { fn() {}, arrow: () => 1, cls: class {} }, [undefined, null], { u: undefined },
  new Error('plain').message, [1.5, -2.25, 1e21, 1e-7],
];
Error.stackTraceLimit = 0;
values.push(new Error('in a list'), { err: new TypeError('nested') });
for (const v of values) console.log(v);
console.log('several', 1, { a: 1 }, ['x'], null);
console.log(values.length >= 30);
