"""memwatch prints exactly what tracemalloc prints: the same synthetic
allocations are given to tracemalloc's own Snapshot (built from raw traces)
and written as a memwatch snapshot; `memwatch top` and `memwatch diff` must
print the same lines, in the same order."""
import os
import sys
import tracemalloc

from mwsnap import Snapshot
from mwtest import BIN, Scratch, check, equal, finish, run

STEP = [(2, 1)] * 200  # offset 2k is line firstlineno + k


class Model:
    """One set of sites, as a memwatch snapshot and as tracemalloc traces."""

    def __init__(self):
        self.snap = Snapshot(meta={"trigger": "exit", "pid": 4242, "live_bytes": 0,
                                   "live_blocks": 0})
        self.codes = {}
        self.traces = []

    def code(self, filename, first):
        key = (filename, first)
        if key not in self.codes:
            self.codes[key] = self.snap.code(filename, "f%d" % first, firstlineno=first,
                                             lnotab=STEP)
        return self.codes[key]

    def add(self, size, count, stack):
        """stack: [(filename, line)], most recent first; lines >= 100."""
        frames = []
        for filename, line in stack:
            first = line - line % 100
            frames.append(Snapshot.py(self.code(filename, first), 2 * (line - first)))
        self.snap.site(size, count, frames)
        tb = tuple(stack)
        for i in range(count):
            self.traces.append((0, size // count + (1 if i < size % count else 0), tb, len(tb)))
        self.snap.meta["live_bytes"] += size
        self.snap.meta["live_blocks"] += count

    def tracemalloc(self):
        return tracemalloc.Snapshot(self.traces, 64)


def memwatch_lines(*args):
    r = run([BIN] + list(args))
    equal(r.returncode, 0, "memwatch %s" % " ".join(args))
    return r.stdout.splitlines()[1:]  # after the summary line


def compare(what, ours, theirs):
    equal(len(ours), len(theirs), "%s: number of lines" % what)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        equal(a, b, "%s line %d" % (what, i + 1))


with Scratch() as d:
    # Sizes on both sides of every unit boundary, single blocks.
    sizes = [0, 1, 99, 100, 1023, 1024, 10239, 10240, 102399, 102400, 1048575, 1048576,
             10485759, 10485760, 104857599, 104857600, 5 << 30, (1 << 40) - 1, 1 << 40,
             123456789012345]
    m = Model()
    for i, size in enumerate(sizes):
        m.add(size, 1, [("sizes.py", 100 + i)])
    # Averages that round, counts, and ties broken by traceback.
    m.add(1021 * 51 + 17, 51, [("avg.py", 104)])
    m.add(300, 7, [("avg.py", 105)])
    m.add(4096, 4, [("tie.py", 110)])
    m.add(4096, 4, [("tie.py", 120)])
    m.add(4096, 4, [("atie.py", 130)])
    m.add(4096, 3, [("tie.py", 140)])
    # Stacks for cumulative and traceback keys: a line twice in one stack.
    m.add(5000, 5, [("deep.py", 201), ("deep.py", 305), ("main.py", 100)])
    m.add(7000, 7, [("deep.py", 201), ("deep.py", 201), ("main.py", 101)])
    m.add(900, 3, [("other.py", 150), ("main.py", 100)])
    new = m.snap.write(os.path.join(d, "new.mws"))
    t_new = m.tracemalloc()

    for key, cumulative in (("lineno", False), ("filename", False), ("lineno", True),
                            ("filename", True)):
        args = ["top", "-n", "0", "--key", key] + (["--cumulative"] if cumulative else []) + [new]
        compare("top --key %s%s" % (key, " --cumulative" if cumulative else ""),
                memwatch_lines(*args), [str(s) for s in t_new.statistics(key, cumulative)])

    theirs = []
    for s in t_new.statistics("traceback"):
        theirs.append(str(s))
        theirs.extend(s.traceback.format())
    compare("top --key traceback", memwatch_lines("top", "-n", "0", "--key", "traceback", new),
            theirs)
    compare("top -n 5", memwatch_lines("top", "-n", "5", new),
            [str(s) for s in t_new.statistics("lineno")[:5]])

    # The old snapshot: some sites smaller, one absent from the new, one new.
    o = Model()
    for i, size in enumerate(sizes[:10]):
        o.add(size // 2 + 1, 1, [("sizes.py", 100 + i)])
    o.add(4096, 4, [("tie.py", 110)])
    o.add(8000, 8, [("gone.py", 100)])
    o.add(50000, 3, [("gone.py", 101)])
    o.add(5000, 5, [("deep.py", 201), ("deep.py", 305), ("main.py", 100)])
    old = o.snap.write(os.path.join(d, "old.mws"))
    t_old = o.tracemalloc()
    for key in ("lineno", "filename", "traceback"):
        ours = memwatch_lines("diff", "-n", "0", "--key", key, old, new)
        theirs = []
        for s in t_new.compare_to(t_old, key):
            theirs.append(str(s))
            if key == "traceback":
                theirs.extend(s.traceback.format())
        compare("diff --key %s" % key, ours, theirs)
finish()
