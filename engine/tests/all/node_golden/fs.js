// fs over the workspace: sync, callback and promise APIs, errors with Node's codes.
const fs = require('fs');
const path = require('path');
fs.mkdirSync('tmpdir/sub/deeper', { recursive: true });
fs.writeFileSync('tmpdir/a.txt', 'hello');
fs.appendFileSync('tmpdir/a.txt', ' world');
fs.writeFileSync('tmpdir/sub/b.json', JSON.stringify({ n: 1 }));
fs.writeFileSync('tmpdir/bytes.bin', Buffer.from([0, 1, 2, 255]));
console.log(fs.readFileSync('tmpdir/a.txt', 'utf8'), fs.readFileSync('tmpdir/a.txt').length);
console.log(fs.readFileSync('tmpdir/bytes.bin'), JSON.parse(fs.readFileSync('tmpdir/sub/b.json', { encoding: 'utf8' })));
console.log(fs.readdirSync('tmpdir'), fs.existsSync('tmpdir/a.txt'), fs.existsSync('tmpdir/nope'));
console.log(fs.readdirSync('tmpdir', { withFileTypes: true }).map((d) => `${d.name}:${d.isDirectory() ? 'dir' : 'file'}`));
const st = fs.statSync('tmpdir/a.txt');
console.log(st.isFile(), st.isDirectory(), st.size, st.mtime instanceof Date, fs.statSync('tmpdir').isDirectory());
fs.renameSync('tmpdir/a.txt', 'tmpdir/c.txt');
fs.copyFileSync('tmpdir/c.txt', 'tmpdir/d.txt');
fs.unlinkSync('tmpdir/c.txt');
console.log(fs.readdirSync('tmpdir'));
for (const f of [() => fs.readFileSync('tmpdir/missing.txt'), () => fs.mkdirSync('tmpdir'), () => fs.readdirSync('tmpdir/d.txt'), () => fs.rmdirSync('tmpdir')]) {
  try { f(); } catch (e) { console.log(e.code, e.syscall, e.message); }
}
console.log(fs.statSync('tmpdir/missing', { throwIfNoEntry: false }));
fs.readFile('tmpdir/d.txt', 'utf8', (err, data) => {
  console.log('callback', err, data);
  fs.promises.writeFile('tmpdir/p.txt', 'promised').then(() => fs.promises.readFile('tmpdir/p.txt', 'utf8')).then(async (t) => {
    console.log('promise', t);
    await fs.promises.rm('tmpdir', { recursive: true, force: true });
    console.log('removed', fs.existsSync('tmpdir'), path.basename(process.cwd()).length > 0);
  });
});
