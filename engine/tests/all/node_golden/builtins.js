// require() of each built-in, with and without the node: prefix.
const names = ['assert', 'buffer', 'crypto', 'events', 'fs', 'fs/promises', 'os', 'path', 'querystring',
  'string_decoder', 'timers', 'timers/promises', 'url', 'util'];
for (const n of names) console.log(n, typeof require(n), require(n) === require('node:' + n));
const path = require('path');
console.log(path.join('/a', 'b', '../c', './d'), path.resolve('/x', 'y', '..', 'z'), path.dirname('/a/b/c.txt'));
console.log(path.basename('/a/b/c.txt'), path.basename('/a/b/c.txt', '.txt'), path.extname('x.tar.gz'), path.extname('.bashrc'));
console.log(path.normalize('a//b/../c/.'), path.relative('/a/b/c', '/a/d'), path.isAbsolute('./x'), path.sep, path.delimiter);
console.log(path.parse('/home/u/file.txt'), path.format({ dir: '/tmp', name: 'f', ext: '.js' }));
const { EventEmitter, once } = require('events');
const em = new EventEmitter();
em.on('ev', (a, b) => console.log('ev', a, b));
em.once('ev', () => console.log('once'));
console.log(em.emit('ev', 1, 2), em.emit('ev', 3, 4), em.emit('none'), em.listenerCount('ev'));
once(em, 'later').then(([v]) => console.log('once promise', v));
em.emit('later', 'L');
try { em.emit('error', new Error('emitted')); } catch (e) { console.log('caught', e.message); }
const { Buffer: B } = require('buffer');
const b = B.from('héllo wörld');
console.log(b.length, b.toString('hex'), b.toString('base64'), B.from(b.toString('base64'), 'base64').toString());
console.log(B.concat([B.from('ab'), B.from([99, 100])]).toString(), B.alloc(3, 1), B.byteLength('€'), b.slice(0, 5).toString());
const w = B.alloc(8); w.writeUInt32BE(0xdeadbeef, 0); w.writeInt16LE(-2, 4);
console.log(w, w.readUInt32BE(0).toString(16), w.readInt16LE(4), B.from('abc').equals(B.from('abc')), B.isBuffer(w));
console.log(JSON.stringify(B.from('hi')), B.from('hello').indexOf('ll'), B.from('aGk=', 'base64').toString('utf8'));
const crypto = require('crypto');
for (const alg of ['md5', 'sha1', 'sha256']) console.log(alg, crypto.createHash(alg).update('hello ').update('world').digest('hex'));
console.log(crypto.createHash('sha256').update(B.from([1, 2, 3])).digest('base64'));
console.log(crypto.createHmac('sha256', 'key').update('data').digest('hex'));
console.log(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()), crypto.randomBytes(8).length);
const os = require('os');
console.log(os.EOL === '\n', os.platform(), typeof os.cpus().length, typeof os.tmpdir());
const assert = require('assert');
assert(true); assert.ok(1); assert.equal(1, '1'); assert.strictEqual(2, 2); assert.deepStrictEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] });
assert.throws(() => { throw new TypeError('t'); }, TypeError);
try { assert.strictEqual(1, 2); } catch (e) { console.log(e.name, e.code, e.message.split('\n')[0]); }
try { assert.deepStrictEqual({ a: 1 }, { a: 2 }); } catch (e) { console.log(e.name, e.code); }
try { assert(false, 'custom message'); } catch (e) { console.log(e.message); }
const url = require('url');
const u = new URL('https://user:pw@Example.COM:443/p/a/t/h?query=string&x=1#hash');
console.log(u.href, u.host, u.port, u.pathname, u.search, u.hash, u.origin, u.searchParams.get('x'));
u.searchParams.append('y', 'a b'); console.log(u.search, [...u.searchParams.keys()]);
console.log(new URL('../up?q', 'http://h.com/a/b/c').href, url.fileURLToPath('file:///tmp/x%20y'), url.pathToFileURL('/tmp/a b').href);
const qs = require('querystring');
console.log(qs.parse('a=1&b=2&a=3&c=%20x'), qs.stringify({ a: [1, 2], b: 'x y', c: '' }));
const { StringDecoder } = require('string_decoder');
const dec = new StringDecoder('utf8');
const euro = B.from('€');
console.log(JSON.stringify(dec.write(euro.slice(0, 1))), dec.write(euro.slice(1)), dec.end());
const util = require('util');
console.log(util.types.isPromise(Promise.resolve()), util.types.isDate(new Date()), util.inspect.custom === Symbol.for('nodejs.util.inspect.custom'));
class Custom { [util.inspect.custom]() { return 'CUSTOM!'; } }
console.log(new Custom(), [new Custom()]);
util.promisify((x, cb) => cb(null, x * 2))(21).then((v) => console.log('promisify', v));
function Old() {} util.inherits(Old, EventEmitter); console.log(new Old() instanceof EventEmitter);
setTimeout(() => require('fs/promises').readdir('.').then((l) => console.log('fs/promises', Array.isArray(l))), 20);
