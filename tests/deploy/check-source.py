#!/usr/bin/python3
"""Static check of the Rust sources' size rules (ARCHITECTURE.md, "Small rooms"):

- no source file over 500 lines;
- no function over 80 lines, counted from the line of `fn` to its closing brace.

Strings, characters and comments are blanked before braces are counted, so a `{` in a
format string or a doc comment does not open a block. `target/` and `.git/` are skipped.

Usage: /usr/bin/python3 tests/deploy/check-source.py [REPO_DIR]
Prints one line per check (each offender named with its length) and
`source: N passed, M failed`; exits 1 if any failed.
"""

import os
import re
import sys

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
MAX_FILE_LINES = 500
MAX_FN_LINES = 80
SKIP_DIRS = {"target", ".git", "node_modules"}

FN = re.compile(
    r'^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+"[^"]*"\s+)?fn\s+(\w+)'
)
RAW_STRING = re.compile(r'b?r(#*)"')
CHAR = re.compile(r"'(\\.|\\u\{[0-9a-fA-F]+\}|\\x..|[^\\'])'")

results = []


def check(ok, what):
    results.append((bool(ok), what))
    print(("ok    " if ok else "FAIL  ") + what)
    return bool(ok)


def blank(text):
    """The text with every character but newlines turned into a space."""
    return re.sub(r"[^\n]", " ", text)


def literal_end(src, i):
    """Where the comment, string or character literal starting at `i` ends, or None."""
    if src.startswith("//", i):
        j = src.find("\n", i)
        return len(src) if j < 0 else j
    if src.startswith("/*", i):
        j = src.find("*/", i + 2)
        return len(src) if j < 0 else j + 2
    raw = RAW_STRING.match(src, i)
    if raw and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
        end = '"' + raw.group(1)
        j = src.find(end, raw.end())
        return len(src) if j < 0 else j + len(end)
    if src[i] == '"':
        j = i + 1
        while j < len(src) and src[j] != '"':
            j += 2 if src[j] == "\\" else 1
        return j + 1
    char = CHAR.match(src, i)
    return char.end() if char else None


def code_only(src):
    """The source with comments, strings and character literals blanked, lines kept."""
    out, i = [], 0
    while i < len(src):
        end = literal_end(src, i)
        if end is None:
            out.append(src[i])
            i += 1
        else:
            out.append(blank(src[i:end]))
            i = end
    return "".join(out)


def fn_length(lines, start):
    """Lines from the `fn` at `start` to its closing brace; None for a body-less declaration."""
    depth, opened = 0, False
    for j in range(start, len(lines)):
        line = lines[j]
        if not opened and ";" in line and "{" not in line:
            return None
        for ch in line:
            if ch == "{":
                depth, opened = depth + 1, True
            elif ch == "}":
                depth -= 1
        if opened and depth == 0:
            return j - start + 1
    return None


def rust_files():
    for d, dirs, files in os.walk(REPO):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS)
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(d, f)


long_files, long_fns, count = [], [], 0
for path in rust_files():
    count += 1
    rel = os.path.relpath(path, REPO)
    with open(path, encoding="utf-8") as f:
        src = f.read()
    lines = code_only(src).split("\n")
    if src.count("\n") > MAX_FILE_LINES:
        long_files.append(f"{rel} ({src.count(chr(10))} lines)")
    for i, line in enumerate(lines):
        m = FN.match(line)
        n = fn_length(lines, i) if m else None
        if n is not None and n > MAX_FN_LINES:
            long_fns.append(f"{rel}:{i + 1} {m.group(7)} ({n} lines)")

check(count > 0, f"found the Rust sources ({count} files)")
check(not long_files, f"no source file over {MAX_FILE_LINES} lines" + "".join("\n      " + x for x in long_files))
check(not long_fns, f"no function over {MAX_FN_LINES} lines" + "".join("\n      " + x for x in long_fns))

passed = sum(1 for ok, _ in results if ok)
failed = len(results) - passed
print(f"source: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
