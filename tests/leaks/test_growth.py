"""memwatch growth over periodic snapshots: a steady small leak ranks
first; a cache that stopped growing ranks below it and is not steady."""
import json
import os

from mwtest import BIN, BUILD, SRC, Scratch, check, equal, finish, marker_lines, run, snapshots

lines = marker_lines(os.path.join(SRC, "tests/leaks/server.c"), "LINE:")
with Scratch() as d:
    r = run([BIN, "run", "-q", "-o", d, "--", os.path.join(BUILD, "tests/leaks/server"), "12"])
    equal(r.stdout, "served 12\n", "server output")
    snaps = [s for s in snapshots(d)][:12]  # the 12 API snapshots, in order
    equal(len(snaps), 12, "periodic snapshots")
    r = run([BIN, "growth", "--format", "json"] + snaps)
    equal(r.returncode, 0, "growth status")
    rep = json.loads(r.stdout)
    stats = rep["stats"]
    check(len(stats) >= 2, "sites that grew: %d" % len(stats))
    first = stats[0] if stats else {}
    equal((os.path.basename(first.get("file", "")), first.get("line"), first.get("steady"),
           first.get("intervals_grown"), first.get("intervals"), first.get("growth_per_snapshot")),
          ("server.c", lines["leak"], True, 11, 11, 300), "the steady leak ranks first")
    equal(first.get("sizes"), [300 * (i + 1) for i in range(12)], "its series")
    cache = [s for s in stats if s["line"] == lines["cache"]]
    equal(len(cache), 1, "the cache appears")
    if cache:
        equal((cache[0]["steady"], cache[0]["intervals_grown"]), (False, 2),
              "the cache grew twice, then stopped")
        check(stats.index(cache[0]) > 0, "the cache ranks below the leak")
    text = run([BIN, "growth"] + snaps).stdout.splitlines()
    check(text[1].startswith("%s:%d: size=3600 B (+3300 B), count=12 (+11), grew in 11 of 11"
                             % (os.path.join(SRC, "tests/leaks/server.c"), lines["leak"])),
          "text line: %r" % (text[1] if len(text) > 1 else None))
    r = run([BIN, "growth", snaps[3], snaps[1]])
    equal((r.returncode, len(r.stderr.splitlines())), (2, 1), "out of time order: one sentence")
    r = run([BIN, "growth", snaps[0]])
    equal(r.returncode, 2, "one snapshot is not a series")
finish()
