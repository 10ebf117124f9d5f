"""Parity with tracemalloc, on every CPython 3.8-3.13 present: for each
workload the top-5 `--key lineno` lines of memwatch's exit snapshot are
tracemalloc's top-5 lines (PYTHONMALLOC=malloc -X tracemalloc=1, snapshot
when the script has finished), in the same order, each size within 5%."""
import json
import os
import sys

from mwtest import BIN, SRC, Scratch, check, equal, finish, pythons, run, snapshots, \
    top_json, env_with, meta

here = os.path.join(SRC, "tests/python")
workloads = sorted(f for f in os.listdir(os.path.join(here, "workloads")) if f.endswith(".py"))
only = sys.argv[1:]  # optional: a subset of workloads

for label, py in pythons():
    for w in workloads:
        if only and w not in only:
            continue
        script = os.path.join(here, "workloads", w)
        what = "%s %s" % (label, w)
        tm = run([py, "-X", "tracemalloc=1", os.path.join(here, "tm_top.py"), script],
                 env=env_with(PYTHONMALLOC="malloc"))
        if not check(tm.returncode == 0, "%s: tracemalloc run: %s" % (what, tm.stderr[-500:])):
            continue
        theirs = json.loads(tm.stderr.strip().splitlines()[-1])[:5]
        with Scratch() as out:
            r = run([BIN, "run", "-q", "-o", out, "--", py, script])
            equal((r.returncode, r.stdout), (0, tm.stdout), "%s: same output" % what)
            snaps = snapshots(out)
            if not check(len(snaps) == 1, "%s: one snapshot" % what):
                continue
            equal(meta(snaps[0])["trigger"], "python-exit", "%s: trigger" % what)
            ours = top_json(snaps[0])["stats"][:5]
        equal([(s["file"], s["line"]) for s in ours], [(t[0], t[1]) for t in theirs],
              "%s: top-5 lines" % what)
        for s, t in zip(ours, theirs):
            if (s["file"], s["line"]) == (t[0], t[1]):
                check(abs(s["size"] - t[2]) <= 0.05 * t[2],
                      "%s: %s:%d size %d vs tracemalloc %d" % (what, t[0], t[1], s["size"], t[2]))
        print("%s: top-5 as tracemalloc: %s" % (what, ", ".join("%d" % t[1] for t in theirs)))
finish()
