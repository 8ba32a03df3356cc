#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""
tests/check-errors.py [SRC_DIR] -- the error grammar (doc/architecture.md,
"Error convention"), checked on every message the code hands to
vs_err(), vs_err_msg() and vs_err_prefix() in vsd/, base/, cgroups/, net/
and vsctl/: the text a user reads after "vsctl: " or in {"error": ...}.
tests/run.sh runs it with the unit tests (SRC_DIR defaults to $VSD_SRC);
it prints "ok - ..." / "not ok - ..." lines, each failure followed by "#"
lines naming file:line and the message.

1. One line: no newline in it, no full stop at its end.
2. It begins either with "Failed to " (a failure, said by the layer that
   knows what it was doing) or in lower case (a refusal naming its subject,
   or the part of a failure a lower layer adds: "mount overlay on %s"),
   a conversion (%s) or a word that is written in capitals in any sentence:
   an acronym or a constant (CPU, HTTP, IPv4, VSD_TEST_STALL, I/O).
3. "Failed to" only at its start: the prefixes callers add on the way up
   are lower case ("cloned 'x' but"), and the top adds "Failed to" once.
4. vs_err_prefix() adds a prefix without a trailing colon: it puts ": "
   between the prefix and what was there.
"""
import os
import re
import sys

CALL = re.compile(r'\bvs_err(_msg|_prefix)?\s*\(')
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
# a word written in capitals in any sentence: an acronym or constant, maybe
# with digits, slashes or a lower-case tail after two capitals (IPv4, MiB)
CAPS_WORD = re.compile(r"^(?:[A-Z0-9_/.-]{2,}[a-z0-9]*|[A-Z][a-z]?[0-9A-Z][A-Za-z0-9_]*)(?=$|[ ,:;'(=])")


def arguments(src, start):
    """The call's arguments as source text, from the "(" at start."""
    depth, i, args, cur = 0, start, [], []
    while i < len(src):
        c = src[i]
        if c == '"':
            m = STRING.match(src, i)
            cur.append(m.group(0))
            i = m.end()
            continue
        if c == "'":
            j = src.index("'", i + 1 + (src[i + 1] == "\\"))
            cur.append(src[i:j + 1])
            i = j + 1
            continue
        if c in "([{":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append("".join(cur).strip())
                return args
        elif c == "," and depth == 1:
            args.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    return args


def literal(arg):
    """The format string if arg is (adjacent) string literals, else None."""
    parts = STRING.findall(arg)
    rest = STRING.sub("", arg).strip()
    if not parts or rest:
        return None
    return "".join(parts)


def check(msg, prefix):
    why = []
    if "\\n" in msg:
        why.append("more than one line")
    if msg.rstrip().endswith("."):
        why.append("a full stop at its end")
    if prefix and msg.rstrip().endswith(":"):
        why.append("a prefix ends without a colon: vs_err_prefix() adds \": \"")
    first = msg.split(" ")[0]
    if msg and msg[0].isupper() and not msg.startswith("Failed to ") and not CAPS_WORD.match(first):
        why.append("begins in upper case (not \"Failed to\", not an acronym)")
    if "Failed to" in msg[1:]:
        why.append("\"Failed to\" inside: the top layer says it once, at the start")
    return why


def main():
    src = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("VSD_SRC", "."))
    bad, n = [], 0
    for top in ("vsd", "base", "cgroups", "net", "vsctl"):
        for dirpath, _, files in os.walk(os.path.join(src, top)):
            for f in sorted(files):
                if not f.endswith(".c"):
                    continue
                path = os.path.join(dirpath, f)
                text = open(path, encoding="utf-8").read()
                for m in CALL.finditer(text):
                    # the definitions in base/error.c name their parameters
                    args = arguments(text, m.end() - 1)
                    kind = m.group(1) or ""
                    idx = 1 if kind == "_prefix" else 2
                    if len(args) <= idx:
                        continue
                    msg = literal(args[idx])
                    if msg is None:
                        continue
                    n += 1
                    for why in check(msg, kind == "_prefix"):
                        line = text.count("\n", 0, m.start()) + 1
                        bad.append(f"{os.path.relpath(path, src)}:{line}: {why}: \"{msg[:100]}\"")
    name = f"error grammar of {n} messages"
    if bad:
        print(f"not ok - {name}")
        for b in bad:
            print(f"# {b}")
        return 1
    print(f"ok - {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
