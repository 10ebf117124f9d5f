"""fork and exec: every process writes its own files, none overwritten or
interleaved, and a forked child's recorder works (its own leaks exact)."""
import os

from mwtest import BUILD, SRC, Scratch, by_site, check, equal, finish, marker_lines, meta, \
    preload, snapshots, top_json

CHILDREN, PARENT_SIZE, CHILD_SIZE = 5, 1111, 777
lines = marker_lines(os.path.join(SRC, "tests/progs/forker.c"))
status = os.path.join(BUILD, "tests/progs/status")

with Scratch() as out:
    r = preload([os.path.join(BUILD, "tests/progs/forker"), status, "exit", "0"], out,
                timeout=300)
    equal(r.returncode, 0, "exit status")
    equal(r.stdout, "forked 7 children, parent block 0x1 kept\n", "output")
    snaps = snapshots(out)
    by_pid = {}
    for s in snaps:
        m = meta(s)  # every file parses: none is half written or mixed
        check(m["pid"] not in by_pid, "one exit snapshot per process (pid %d)" % m["pid"])
        by_pid[m["pid"]] = (s, m)
    equal(len(by_pid), 1 + CHILDREN + 2, "processes with a snapshot")
    parent = [v for v in by_pid.values() if v[1]["ppid"] != min(p for p in by_pid) and
              v[1]["exe"].endswith("/forker") and
              v[1]["pid"] == min(q for q in by_pid)]
    children = sorted((v for v in by_pid.values() if v[1]["exe"].endswith("/forker")),
                      key=lambda v: v[1]["pid"])
    root = children.pop(0)  # the parent started first: lowest pid
    sites = by_site(top_json(root[0])["stats"])
    equal((sites.get(("forker.c", lines["parent"])) or {}).get("count"), 1, "parent leak")
    check(("forker.c", lines["child"]) not in sites, "children's leaks not in the parent")
    equal(len(children), CHILDREN + 1, "forked children without exec")
    for k, (snap, m) in enumerate(children):
        equal(m["ppid"], root[1]["pid"], "child %d parent" % k)
        sites = by_site(top_json(snap)["stats"])
        if k < CHILDREN:
            got = sites.get(("forker.c", lines["child"])) or {}
            equal((got.get("count"), got.get("size")), (k + 1, (k + 1) * CHILD_SIZE),
                  "child %d leak" % k)
        else:
            got = sites.get(("forker.c", lines["quick"])) or {}
            equal(got.get("size"), 2 * CHILD_SIZE, "_exit child leak")
            equal(m["trigger"], "exit", "_exit child trigger")
        # What the parent held at fork time is live in the child too.
        equal((sites.get(("forker.c", lines["parent"])) or {}).get("count"), 1,
              "child %d inherits the parent's block" % k)
    execd = [v for v in by_pid.values() if v[1]["exe"].endswith("/status")]
    equal(len(execd), 1, "the exec'd program wrote its own snapshot")
finish()
