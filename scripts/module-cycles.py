#!/usr/bin/env python3
"""The layering check (DESIGN.md, "Layers"): builds the file-level import graph of a Rust crate
from its `crate::`/`super::`/`self::` paths (names re-exported at the crate root resolve to the
file that defines them; test modules and comments are ignored) and prints every cycle. With a
level, modules are cut to that many path segments first (1: top-level modules only).

usage: module-cycles.py SRC_DIR [LEVEL]    exit status 1 when there is a cycle"""
import os, re, sys
root = sys.argv[1]  # e.g. engine/src
files = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)[:-3]
            parts = rel.split('/')
            if parts[-1] == 'mod': parts = parts[:-1]
            if parts in (["lib"], ["main"]): parts = []
            files[tuple(parts)] = p
def strip(src):
    src = re.sub(r'//[^\n]*', '', src)
    src = re.sub(r'/\*.*?\*/', '', src, flags=re.S)
    # drop #[cfg(test)] mod tests { ... } blocks crudely: everything after "#[cfg(test)]\nmod tests"
    m = re.search(r'#\[cfg\(test\)\]\s*(pub\(crate\)\s*)?mod tests', src)
    if m: src = src[:m.start()]
    return src
def expand(path):
    # expand a use tree "a::{b, c::{d}}" into list of paths
    path = path.strip()
    i = path.find('{')
    if i < 0: return [path]
    prefix = path[:i]
    body = path[i+1:path.rfind('}')]
    items, depth, cur = [], 0, ''
    for ch in body:
        if ch == ',' and depth == 0: items.append(cur); cur = ''; continue
        if ch == '{': depth += 1
        if ch == '}': depth -= 1
        cur += ch
    items.append(cur)
    out = []
    for it in items:
        it = it.strip()
        if not it: continue
        for e in expand(it): out.append(prefix + e)
    return out
reexports = {}
def resolve(mod, segs):
    # returns module tuple the path points into (longest existing module prefix)
    best = ()
    for k in range(len(segs)+1):
        if tuple(segs[:k]) in files: best = tuple(segs[:k])
    if best == () and segs:
        r = reexports.get(segs[0])
        if r is not None: return r
    return best
lib = strip(open(files[()]).read())
for m in re.finditer(r'pub use ([a-z_]+)::\{?([^;]*?)\}?;', lib):
    for name in re.findall(r'[A-Za-z_][A-Za-z0-9_]*', m.group(2)):
        if (m.group(1),) in files: reexports[name] = (m.group(1),)
edges = {}
for mod, p in files.items():
    src = strip(open(p).read())
    paths = []
    for m in re.finditer(r'\buse\s+([^;]+);', src): paths += expand(m.group(1))
    paths += re.findall(r'\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)', src)
    is_mod_file = p.endswith('mod.rs') or p.endswith('lib.rs')
    for path in paths:
        segs = [s.strip() for s in path.split('::')]
        if segs[0] == 'crate': base = []; segs = segs[1:]
        elif segs[0] == 'super':
            base = list(mod if is_mod_file else mod[:-1])
            while segs and segs[0] == 'super': base = base[:-1]; segs = segs[1:]
        elif segs[0] == 'self': base = list(mod if is_mod_file else mod[:-1]) if False else list(mod); segs = segs[1:]
        else: continue
        tgt = resolve(mod, base + segs)
        if tgt != mod and tgt != ():
            edges.setdefault(mod, set()).add(tgt)
level = int(sys.argv[2]) if len(sys.argv) > 2 else 99
def cut(m): return m[:level]
g = {}
for a, bs in edges.items():
    for b in bs:
        ca, cb = cut(a), cut(b)
        if ca != cb and not (cb == ca[:len(cb)] or ca == cb[:len(ca)]):  # ignore parent<->child
            g.setdefault(ca, set()).add(cb)
# Tarjan SCC
idx, low, st, on, out, c = {}, {}, [], set(), [], [0]
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in g.get(v, ()):
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: out.append(comp)
sys.setrecursionlimit(10000)
for v in list(g): 
    if v not in idx: sc(v)
for comp in out:
    names = sorted('/'.join(x) for x in comp)
    print('CYCLE:', names)
    for a in comp:
        for b in g.get(a, ()):
            if b in comp: print('   ', '/'.join(a), '->', '/'.join(b))
if not out: print('no cycles')
sys.exit(1 if out else 0)
