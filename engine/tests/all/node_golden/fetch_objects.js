// fetch's Headers and Response, offline (no request is made).
const h = new Headers({ 'Content-Type': 'text/plain', 'X-B': '1' });
h.append('x-b', '2');
h.append('Set-Cookie', 'a=1');
h.append('set-cookie', 'b=2');
console.log(h.get('content-type'), h.get('X-B'), h.has('x-a'), h.get('missing'));
console.log(JSON.stringify([...h]), JSON.stringify([...h.keys()]), JSON.stringify(h.getSetCookie()));
h.set('X-B', ' 3 ');
h.delete('content-type');
h.forEach((v, k, self) => console.log(k, v, self === h));
for (const bad of [['bad name', 'x'], ['x', 'a\nb']]) {
  try { h.set(...bad); console.log('accepted'); } catch (e) { console.log(e.constructor.name); }
}
console.log(JSON.stringify([...new Headers([['a', '1'], ['A', '2']])]), new Headers(h).get('x-b'));
try { new Headers([['only-one']]); } catch (e) { console.log(e.constructor.name); }
const r = new Response('{"a":1}', { status: 201, statusText: 'Made', headers: [['x-y', 'z']] });
console.log(r.status, r.statusText, r.ok, r.headers.get('x-y'), r.headers.get('content-type'), r.bodyUsed, r.url, r.redirected, r.type);
try { new Response('', { status: 99 }); } catch (e) { console.log(e.constructor.name); }
console.log(new Response(null, { status: 404 }).ok, Object.prototype.toString.call(r), Object.prototype.toString.call(h));
(async () => {
  console.log(await r.clone().text());
  console.log((await r.json()).a, r.bodyUsed);
  try { await r.text(); } catch (e) { console.log(e.constructor.name); }
  const b = new Response(new Uint8Array([104, 105]));
  console.log(b.headers.get('content-type'), new Uint8Array(await b.arrayBuffer()).join(','));
  const j = Response.json({ x: [1, 2] }, { status: 202 });
  console.log(j.status, j.headers.get('content-type'), await j.text());
  const u = new Response(new URLSearchParams({ q: 'a b' }));
  console.log(u.headers.get('content-type'), await u.text());
  try { await fetch('not a url'); } catch (e) { console.log(e.constructor.name, e.message); }
  try { await fetch('http://localhost:1/', { body: 'x' }); } catch (e) { console.log(e.constructor.name, e.message); }
  try { await fetch('http://localhost:1/', { method: 'bad method' }); } catch (e) { console.log(e.constructor.name, e.message); }
})();
