"""checks.py - what the deploy checks written in Python share: one `ok`/`FAIL` line per check,
files read from the repository, and the closing tally (`NAME: P passed, F failed`, exit 1 on
any failure)."""

import os
import sys


class Checks:
    """The results of one script's checks on the repository at `repo`."""

    def __init__(self, repo):
        self.repo = repo
        self.results = []

    def check(self, ok, what):
        self.results.append((bool(ok), what))
        print(("ok    " if ok else "FAIL  ") + what)
        return bool(ok)

    def read(self, name):
        with open(os.path.join(self.repo, name)) as f:
            return f.read()

    def finish(self, name):
        passed = sum(1 for ok, _ in self.results if ok)
        failed = len(self.results) - passed
        print(f"{name}: {passed} passed, {failed} failed")
        sys.exit(1 if failed else 0)
