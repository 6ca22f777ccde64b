#!/usr/bin/env python3
"""Report import cycles between the modules of each crate under crates/*/src.

Why: when a crate's modules form no cycle, it can be read bottom-up. Every module leans
only on modules below it, so a newcomer can open any file and understand it from what it
uses, and a change to a low module never needs a matching change above it.

What it checks, per crate: modules (a file `foo.rs` or a directory `foo/mod.rs`) are
nodes; the references one module's code makes to another are edges: `use` (`pub use`
re-exports included), `crate::…`, `super::…` and `self::…` paths, and a directory
module's `bar::…` paths to its own children. Two granularities: the crate's top-level
modules (a directory stands for its whole subtree), and inside each directory module its
children plus its own `mod.rs`. A child reaching an item defined in its parent's `mod.rs`
(`super::X`) is an edge child -> parent; `mod bar;` alone is no edge, but `pub use bar::X`
or `bar::f()` in the parent is one. Names are followed through `use` to the module that
defines them (`use crate::Store` points at the module lib.rs re-exports `Store` from);
the crate root is not a node, its re-exports being the crate's public face. Skipped:
`#[cfg(test)]` items (and the files of `#[cfg(test)] mod x;`), tests/, comments, strings.

Every strongly connected component of more than one module is printed with the lines that
make its edges. Exit status 1 if any crate has a cycle, 0 otherwise.

    python3 scripts/module-cycles.py                   # every crate
    python3 scripts/module-cycles.py --crate reel-pm   # one crate (comma-separated list)
    python3 scripts/module-cycles.py --skip reel-node  # every crate but these
"""

import argparse
import re
import sys
from collections import defaultdict, deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Comments, then string, raw string and char literals; a lifetime (`'a`) is none of these.
NOISE = re.compile(
    r"//[^\n]*|/\*.*?\*/|(?<!\w)b?r(#*)\".*?\"\1|\"(?:\\.|[^\"\\])*\""
    r"|'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'",
    re.S,
)
USE = re.compile(r"(?<![\w$:])use\s+([^;]+);")
PATH = re.compile(r"(?<![\w$:.])(\w+)((?:::\w+)+)")
TEST_ATTR = re.compile(r"#\[cfg\(test\)\]")
MOD_DECL = re.compile(r"\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")


def blank(text):
    return re.sub(r"[^\n]", " ", text)


def blank_code(src):
    """`src` with comments and string/char literals replaced by spaces (lines kept)."""
    return NOISE.sub(lambda m: blank(m.group(0)), src)


def skip_test_items(code):
    """`code` with every `#[cfg(test)]` item blanked; also the names of `mod x;` among them."""
    test_mods = []
    for m in reversed(list(TEST_ATTR.finditer(code))):
        decl = MOD_DECL.match(code, m.end())
        if decl:
            test_mods.append(decl.group(1))
        semi, brace = code.find(";", m.end()), code.find("{", m.end())
        if brace < 0 or 0 <= semi < brace:
            end = semi + 1
        else:
            end, depth = brace + 1, 1
            while end < len(code) and depth:
                depth += {"{": 1, "}": -1}.get(code[end], 0)
                end += 1
        code = code[: m.start()] + blank(code[m.start() : end]) + code[end:]
    return code, test_mods


def split_top(s):
    parts, depth, start = [], 0, 0
    for k, c in enumerate(s):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if c == "," and depth == 0:
            parts.append(s[start:k])
            start = k + 1
    return parts + [s[start:]]


def use_leaves(tree, prefix=()):
    """Expand a use tree (`a::{b, c::d as e, self}`) into (path, bound name) pairs."""
    for part in filter(None, split_top(tree)):
        if "{" in part:
            head, _, rest = part.partition("{")
            yield from use_leaves(rest[:-1], prefix + tuple(filter(None, head.split("::"))))
        else:
            name, _, alias = part.partition("@")
            segs = prefix + tuple(filter(None, name.split("::")))
            if segs and segs[-1] == "self":
                segs = segs[:-1]
            if segs:
                yield segs, alias or segs[-1]


class Crate:
    def __init__(self, src):
        self.src, self.mods, self.code, tests = src, {}, {}, []
        for f in sorted(src.rglob("*.rs")):
            rel = f.relative_to(src).with_suffix("").parts
            if rel[0] == "bin":
                continue
            path = rel[:-1] if rel[-1] == "mod" else rel
            path = () if path in (("lib",), ("main",)) else path
            code, test_mods = skip_test_items(blank_code(f.read_text()))
            tests += [path + (t,) for t in test_mods]
            self.mods[path], self.code[path] = f.relative_to(src), code
        for path in list(self.mods):
            if any(path[: len(t)] == t for t in tests):
                del self.mods[path], self.code[path]
        self.binds = defaultdict(dict)  # module -> name -> absolute path (None: outside)
        self.refs = []  # (module, absolute path, line, what)
        for m, code in self.code.items():
            for u in USE.finditer(code):
                tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "@", u.group(1)))
                line = code.count("\n", 0, u.start()) + 1
                for segs, alias in use_leaves(tree):
                    target = None if tree.startswith("::") else self.absolute(m, segs)
                    if alias != "_" and segs[-1] != "*":
                        self.binds[m][alias] = target
                    if target is not None:
                        self.refs.append((m, target, line, "use " + "::".join(segs)))
            code = USE.sub(lambda u: blank(u.group(0)), code)
            for p in PATH.finditer(code):
                target = self.absolute(m, (p.group(1),) + tuple(p.group(2).split("::")[1:]))
                if target is not None:
                    self.refs.append((m, target, code.count("\n", 0, p.start()) + 1, p.group(0)))

    def absolute(self, m, segs):
        """The crate-absolute path `segs` names from module `m`; None if outside the crate."""
        if segs[0] == "crate":
            return tuple(segs[1:])
        if segs[0] not in ("self", "super"):  # a child of `m`, or another crate
            return m + tuple(segs) if m + segs[:1] in self.mods else None
        base, rest = m, list(segs)
        while rest and rest[0] in ("self", "super"):
            if rest.pop(0) == "super":
                if not base:
                    return None
                base = base[:-1]
        return base + tuple(rest)

    def resolve(self, path, hops=0):
        """The module that defines what `path` names, following `use` bindings."""
        cur = ()
        for k, seg in enumerate(path):
            if cur + (seg,) in self.mods:
                cur += (seg,)
                continue
            if seg in self.binds[cur] and hops < 16:
                bound = self.binds[cur][seg]
                return None if bound is None else self.resolve(bound + path[k + 1 :], hops + 1)
            break
        return cur

    def levels(self):
        """Edges per level: {parent module: {(from, to): [evidence]}}."""
        levels = defaultdict(lambda: defaultdict(list))
        for m, path, line, what in self.refs:
            t = self.resolve(path)
            if t is None or t == m:
                continue
            where = f"{self.mods[m]}:{line} {what}"
            for k in range(min(len(m), len(t)) + 1):
                if m[:k] != t[:k]:
                    break
                a, b = m[: k + 1], t[: k + 1]
                if a != b and a and b:
                    levels[m[:k]][(a, b)].append(where)
        return levels


def reachable(graph, v):
    seen, todo = set(), [v]
    while todo:
        for w in graph[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def cycles(edges):
    """Strongly connected components of more than one module (the graphs are small)."""
    graph = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    reach = {v: reachable(graph, v) for v in list(graph)}
    comps = {frozenset(w for w in reach[v] if v in reach.get(w, ())) for v in reach}
    return sorted((c for c in comps if len(c) > 1), key=min)


def shortest_cycle(start, edges):
    """The shortest path from `start` back to itself (breadth first; components are small)."""
    paths = deque([[start]])
    while paths:
        path = paths.popleft()
        for w in (b for a, b in edges if a == path[-1]):
            if w == start:
                return path + [w]
            if w not in path:
                paths.append(path + [w])
    return [start]


def check(name, crate):
    show, found = "::".join, 0
    for _, edges in sorted(crate.levels().items()):
        for comp in cycles(edges):
            found += 1
            inside = sorted((a, b) for a, b in edges if a in comp and b in comp)
            print(f"{name}: " + " -> ".join(map(show, shortest_cycle(min(comp), inside))))
            for a, b in inside:
                where = edges[(a, b)]
                more = f" (+{len(where) - 1} more)" if len(where) > 1 else ""
                print(f"    {show(a)} -> {show(b)}: {where[0]}{more}")
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--crate", default="", help="only these crates (comma-separated)")
    ap.add_argument("--skip", default="", help="not these crates (comma-separated)")
    args = ap.parse_args()
    only, skip = (set(filter(None, a.split(","))) for a in (args.crate, args.skip))
    names = sorted(p.name for p in (ROOT / "crates").iterdir() if (p / "src").is_dir())
    unknown = (only | skip) - set(names)
    if unknown:
        sys.exit(f"error: no crate named {', '.join(sorted(unknown))} under crates/")
    chosen = [n for n in names if (not only or n in only) and n not in skip]
    found = sum(check(n, Crate(ROOT / "crates" / n / "src")) for n in chosen)
    if found:
        print(f"{found} module cycle(s); break each by moving what both sides share into a "
              "lower module, or by inverting one edge with a trait")
        return 1
    print(f"no module cycles in {len(chosen)} crate(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
