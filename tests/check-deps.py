#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""
tests/check-deps.py [SRC_DIR [BUILD_DIR]] -- the house's rules, checked
(doc/architecture.md, "Rooms").  tests/run.sh runs it with the unit tests
(SRC_DIR and BUILD_DIR default to $VSD_SRC and $B); it prints "ok - ..." /
"not ok - ..." lines, each failure followed by "#" lines naming file:line.

1. Includes follow the rooms.  Every `#include "..."` in vsd/, base/,
   cgroups/, net/, vsctl/ and tests/ is root-relative (names an existing
   file from the top of the tree, no "..") and, outside tests/, goes from a
   room only to a room ROOMS says it may include.
2. No include circle between modules (a module is foo.c with foo.h, and
   foo-internal.h where its translation units share one), within a room as
   well as across rooms.
3. The start's child allocates nothing and reaches no registry or API code.
   Everything in vsd/start/child.o runs between clone and exec (start-internal.h);
   from its functions, the call graph of the daemon's objects (libvsdcore,
   libvscgroup, libvsnet, libvsbase: calls, jumps and address-taken
   functions, read from `objdump -dr`, static functions and inlined header
   helpers included) must reach neither a function of DENY_CALLS (the heap
   allocator and what allocates behind the caller's back) nor any function
   defined in the rooms of DENY_ROOMS.  What a library does inside a call
   the child may make (libcap's cap_set_proc, seccomp(2) through
   syscall()) is outside what this sees.
"""
import os
import re
import subprocess
import sys
from collections import defaultdict, deque

# room -> rooms it may include (itself always).  Top to bottom:
#   vsd/main.c -> api -> inst -> netw -> start -> {storage, view} -> core
#   -> conf -> {cgroups, net} -> base
# netw -> start only for the plan type the start consumes (struct
# start_net); start -> view for the child's bind of the view's files.
ROOMS = {
    "vsd-main": {"api", "inst", "netw", "start", "storage", "view", "core", "conf", "cgroups", "net", "base"},
    "api": {"inst", "netw", "start", "storage", "view", "core", "conf", "cgroups", "net", "base"},
    "inst": {"netw", "start", "storage", "view", "core", "conf", "cgroups", "net", "base"},
    "netw": {"start", "core", "conf", "net", "base"},
    "start": {"view", "core", "conf", "cgroups", "net", "base"},
    "storage": {"core", "conf", "base"},
    "view": {"core", "conf", "cgroups", "base"},
    "core": {"conf", "cgroups", "net", "base"},
    "conf": {"cgroups", "net", "base"},
    "cgroups": {"base"},
    "net": {"base"},
    "base": set(),
    "vsctl": {"base"},
}

# What the child must never call: the heap allocator, and what allocates
# behind its caller's back (stdio streams, directory streams, the
# libraries the daemon's upper rooms use).
DENY_CALLS = {
    "malloc", "calloc", "realloc", "reallocarray", "free", "strdup", "strndup", "asprintf", "vasprintf",
    "aligned_alloc", "posix_memalign", "memalign", "valloc", "pvalloc", "open_memstream", "getline", "getdelim",
    "fopen", "fdopen", "freopen", "fclose", "opendir", "fdopendir", "closedir", "scandir", "popen",
    "printf", "fprintf", "vfprintf", "puts", "fputs", "fwrite", "perror", "setenv", "putenv", "qsort",
}
DENY_PREFIXES = ("json_", "MHD_", "iniparser_", "nft_", "mnl_", "cgroup_", "seccomp_", "cap_init", "cap_get_",
                 "cap_from_", "cap_to_", "cap_free")
# Rooms whose code the child must not reach (the registry and the API).
DENY_ROOMS = ("vsd/inst/", "vsd/api/", "vsd/main")
CHILD_OBJ = "vsd/start/child.o"

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCE_DIRS = ("vsd", "base", "cgroups", "net", "vsctl", "tests")

failures = 0


def ok(name):
    print(f"ok - {name}")


def not_ok(name, lines):
    global failures
    failures += 1
    print(f"not ok - {name}")
    for line in lines[:60]:
        print(f"#   {line}")
    if len(lines) > 60:
        print(f"#   ... and {len(lines) - 60} more")


def room_of(path):
    parts = path.split("/")
    if parts[0] == "vsd":
        return "vsd-main" if len(parts) == 2 else parts[1]
    return parts[0]


def module_of(path):
    """foo.c, foo.h and foo-internal.h (what the translation units of one
    module share) are module foo."""
    base = os.path.splitext(path)[0]
    return base[: -len("-internal")] if base.endswith("-internal") else base


def sources(src):
    for top in SOURCE_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(src, top)):
            dirnames.sort()
            for f in sorted(filenames):
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, f), src)


def check_includes(src):
    bad_path, wrong_way = [], []
    edges = defaultdict(dict)  # module -> {module: "file:line"}
    for path in sources(src):
        room = room_of(path)
        with open(os.path.join(src, path), encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = m.group(1)
                where = f"{path}:{n}"
                if ".." in target.split("/") or "/" not in target or not os.path.isfile(os.path.join(src, target)):
                    bad_path.append(f'{where}: #include "{target}" is not a path from the top of the tree')
                    continue
                to = room_of(target)
                if room != "tests" and to != room and to not in ROOMS.get(room, set()):
                    wrong_way.append(f'{where}: #include "{target}": {room} may not include {to}')
                a, b = module_of(path), module_of(target)
                if a != b:
                    edges[a].setdefault(b, where)
    if bad_path:
        not_ok("deps: includes are root-relative", bad_path)
    else:
        ok("deps: includes are root-relative")
    if wrong_way:
        not_ok("deps: includes follow the rooms (doc/architecture.md)", wrong_way)
    else:
        ok("deps: includes follow the rooms (doc/architecture.md)")
    cycles = find_cycles(edges)
    if cycles:
        lines = []
        for cyc in cycles:
            lines.append(" -> ".join(cyc + [cyc[0]]))
            for a, b in zip(cyc, cyc[1:] + [cyc[0]]):
                lines.append(f"    {edges[a][b]} includes {b}")
        not_ok("deps: no include circle between modules", lines)
    else:
        ok("deps: no include circle between modules")


def find_cycles(edges):
    """Strongly connected components of more than one module (Tarjan),
    each reported as one circle through it."""
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        work = [(v, iter(sorted(edges.get(v, {}))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, {})))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    comps.append(set(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    cycles = []
    for comp in comps:
        # one circle: a shortest path from the first member back to itself
        start = min(comp)
        prev = {start: None}
        q = deque([start])
        found = None
        while q and not found:
            u = q.popleft()
            for w in sorted(edges.get(u, {})):
                if w not in comp:
                    continue
                if w == start:
                    found = u
                    break
                if w not in prev:
                    prev[w] = u
                    q.append(w)
        path = []
        u = found
        while u is not None:
            path.append(u)
            u = prev[u]
        cycles.append(list(reversed(path)))
    return cycles


# ---- the child's call graph --------------------------------------------

FUNC = re.compile(r"^([0-9a-f]+) <(.+)>:$")
RELOC = re.compile(r"^\s+([0-9a-f]+):\s+(R_X86_64_\w+)\s+(\S+?)(?:([+-])0x([0-9a-f]+))?$")
DIRECT = re.compile(r"\s(?:call|jmp|j[a-z]{1,4})\s+[0-9a-f]+ <([^>+]+)(?:\+0x[0-9a-f]+)?>")
SYM = re.compile(r"^([0-9a-f]+)\s([lgw! ])\s*([dDfFoO ]*)\s+(\S+)\s+([0-9a-f]+)\s+(.*)$")
RELHDR = re.compile(r"^RELOCATION RECORDS FOR \[(.+)\]:$")
RELROW = re.compile(r"^([0-9a-f]+)\s+(R_X86_64_\w+)\s+(\S+?)(?:([+-])0x([0-9a-f]+))?$")
PC_RELATIVE = ("R_X86_64_PC32", "R_X86_64_PLT32", "R_X86_64_GOTPCREL", "R_X86_64_GOTPCRELX", "R_X86_64_REX_GOTPCRELX")


def objects(build):
    objs = []
    for top in ("vsd", "base", "cgroups", "net"):
        root = os.path.join(build, "obj", top)
        for dirpath, _, filenames in os.walk(root):
            for f in filenames:
                if f.endswith(".o"):
                    objs.append(os.path.join(dirpath, f))
    return sorted(objs)


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def is_code(section):
    return section.startswith(".text")


class Obj:
    """One object file: its functions (by section and address), its
    symbols, and the relocations of its data sections."""

    def __init__(self, path, rel):
        self.rel = rel
        self.funcs = {}          # section -> sorted [(addr, name)]
        self.names = set()       # functions defined here
        self.globs = set()       # global symbols defined here (functions and data)
        self.data_sym = {}       # data symbol -> section
        for line in run("objdump", "-t", path).splitlines():
            m = SYM.match(line)
            if not m:
                continue
            addr, scope, flags, section, _size, name = m.groups()
            if section in ("*UND*", "*ABS*") or name == section:
                continue
            if scope in "gw":
                self.globs.add(name)
            if "F" in flags:
                self.funcs.setdefault(section, []).append((int(addr, 16), name))
                self.names.add(name)
            elif "O" in flags:
                self.data_sym[name] = section
        for v in self.funcs.values():
            v.sort()
        # the targets of each data section's relocations (function
        # pointer tables: an ops struct, a step table)
        self.data_refs = defaultdict(list)
        section = None
        for line in run("objdump", "-r", path).splitlines():
            m = RELHDR.match(line)
            if m:
                section = m.group(1)[len(".rela"):] if m.group(1).startswith(".rela") else m.group(1)
                continue
            m = RELROW.match(line)
            if m and section and not is_code(section) and "debug" not in section and section != ".eh_frame":
                _off, kind, sym, sign, add = m.groups()
                self.data_refs[section].append((kind, sym, sign, add))

    def func_at(self, section, off):
        best = None
        for a, n in self.funcs.get(section, ()):
            if a <= off:
                best = n
            else:
                break
        return best

    def node(self, name):
        if name in self.globs or name not in self.names:
            return ("", name)
        return (self.rel, name)

    def target(self, kind, sym, sign, add):
        """The node a relocation refers to: a function, a data section
        of ours, or an outside symbol."""
        a = int(add, 16) if add else 0
        a = -a if sign == "-" else a
        if sym.startswith("."):
            if is_code(sym):
                # PC-relative: the field is 4 bytes before the next instruction
                f = self.func_at(sym, a + 4 if kind in PC_RELATIVE else a)
                return self.node(f) if f else None
            return (self.rel, "@" + sym)
        if sym in self.data_sym and sym not in self.names:
            return (self.rel, "@" + self.data_sym[sym])
        return self.node(sym)


def call_graph(build):
    """Nodes: (object, name) for what is local to an object (static
    functions, and "@section" for a data section, which leads to every
    function its relocations name), ("", name) for global symbols.  Returns
    the edges, where each global symbol is defined, and the objects."""
    edges = defaultdict(set)
    defined = {}
    objs = {}
    for path in objects(build):
        rel = os.path.relpath(path, os.path.join(build, "obj"))
        o = Obj(path, rel)
        objs[rel] = o
        for g in o.globs:
            defined[g] = rel
        for section, refs in o.data_refs.items():
            for r in refs:
                t = o.target(*r)
                if t:
                    edges[(rel, "@" + section)].add(t)
        cur = None
        lines = run("objdump", "-dr", "--no-show-raw-insn", path).splitlines()
        for k, line in enumerate(lines):
            if line.startswith("Disassembly of section "):
                cur = None
                continue
            m = FUNC.match(line)
            if m:
                cur = o.node(m.group(2)) if m.group(2) in o.names else None
                continue
            if cur is None:
                continue
            m = RELOC.match(line)
            if m:
                t = o.target(*m.groups()[1:])
                if t:
                    edges[cur].add(t)
                continue
            # a call or jump with a relocation goes where the relocation
            # says; the address objdump shows for it is a placeholder (the
            # next instruction, maybe the next function's first)
            if k + 1 < len(lines) and RELOC.match(lines[k + 1]):
                continue
            for name in DIRECT.findall(line):
                if name in o.names:
                    edges[cur].add(o.node(name))
    return edges, defined, objs


def denied(node, defined):
    obj, name = node
    where = obj or defined.get(name, "")
    if where.startswith(DENY_ROOMS):
        return f"{name} (in {where}: the registry or the API)"
    if not where:
        if name in DENY_CALLS or name.startswith(DENY_PREFIXES):
            return f"{name} (allocates)"
    return None


def check_child(build):
    name = "deps: the start's child allocates nothing and reaches no registry or API code"
    child = os.path.join(build, "obj", CHILD_OBJ)
    if not os.path.isfile(child):
        not_ok(name, [f"{child}: not built (make all)"])
        return
    edges, defined, objs = call_graph(build)
    roots = [objs[CHILD_OBJ].node(n) for n in objs[CHILD_OBJ].names]
    prev = {r: None for r in roots}
    q = deque(sorted(roots))
    bad = []
    while q:
        u = q.popleft()
        why = denied(u, defined)
        if why:
            path, w = [], u
            while w is not None:
                path.append(w[1])
                w = prev[w]
            bad.append(f"{' -> '.join(reversed(path))}: {why}")
            continue
        for w in sorted(edges.get(u, ())):
            if w not in prev:
                prev[w] = u
                q.append(w)
    if bad:
        not_ok(name, sorted(bad))
    else:
        reached = sum(1 for n in prev if not n[1].startswith("@"))
        ok(f"{name} # {reached} functions reached")


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("VSD_SRC", ".")
    build = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("B", "build")
    check_includes(src)
    check_child(build)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
