"""Offline line numbers (analyzer/pyline.c) equal CPython's own, for every
instruction of a set of code objects, on every CPython 3.8-3.13 present:
each interpreter dumps its raw tables and its own line per offset; a
synthetic snapshot carries one site per (code, offset); memwatch must
print the same line.  No LD_PRELOAD: this also runs under sanitizers."""
import json
import os

from mwsnap import Snapshot
from mwtest import BIN, SRC, Scratch, check, equal, finish, pythons, run

here = os.path.join(SRC, "tests/python")
for label, py in pythons():
    r = run([py, os.path.join(here, "dump_lines.py")])
    if not check(r.returncode == 0, "%s: dump_lines: %s" % (label, r.stderr[-300:])):
        continue
    dump = json.loads(r.stdout)
    snap = Snapshot(meta={"trigger": "exit"})
    expected = {}

    def site(c, off, want):
        """One site per instruction, in a file of its own so that no two
        sites share a key in the report."""
        name = "s%05d.py" % (len(expected) + 1)
        cid = snap.code(name, c["name"], firstlineno=c["firstlineno"])
        # the interpreter's real table instead of the writer's lnotab
        snap.codes[-1] = snap.codes[-1][:1] + (dump["version"],) + snap.codes[-1][2:6] + \
            (bytes.fromhex(c["table"]),)
        snap.site(100, 1, [Snapshot.py(cid, off)])
        expected[name] = want

    for c in dump["codes"]:
        for off, line in c["lines"]:
            site(c, off, max(line, 0))  # tracemalloc prints 0 for "no line"
        site(c, 0xffffffff, c["firstlineno"])  # not started yet: the first line
    with Scratch() as d:
        path = snap.write(os.path.join(d, "lines.mws"))
        out = run([BIN, "top", "--json", "-n", "0", path])
        stats = json.loads(out.stdout)["stats"]
    got = {s["file"]: s["line"] for s in stats}
    wrong = [(name, got.get(name), want) for name, want in expected.items() if got.get(name) != want]
    equal(wrong[:10], [], "%s: lines of %d instructions" % (label, len(expected)))
    print("%s: %d instructions checked" % (label, len(expected)))
finish()
