"""8 threads churning 2 million allocations with cross-thread frees end
with exactly the known remainder: no event lost, no deadlock, no crash."""
import os

from mwtest import BUILD, SRC, Scratch, by_site, equal, finish, marker_lines, meta, preload, \
    snapshots, top_json

THREADS, ITER, KEEP, KEEP_SIZE = 8, 250000, 25, 4321
line = marker_lines(os.path.join(SRC, "tests/progs/churn.c"))["keep"]
held = set(marker_lines(os.path.join(SRC, "tests/progs/churn.c"), "HELD:").values())

with Scratch() as out:
    r = preload([os.path.join(BUILD, "tests/progs/churn"), str(ITER)], out, timeout=300)
    equal(r.returncode, 0, "exit status")
    equal(r.stdout, "churned %d allocations in 8 threads\n" % (THREADS * ITER), "output")
    snaps = snapshots(out)
    equal(len(snaps), 1, "one snapshot")
    m = meta(snaps[0])
    sites = by_site(top_json(snaps[0])["stats"])
    s = sites.get(("churn.c", line))
    equal((s or {}).get("count"), THREADS * KEEP, "kept blocks")
    equal((s or {}).get("size"), THREADS * KEEP * KEEP_SIZE, "kept bytes")
    churned = [v for k, v in sites.items() if k[0] == "churn.c" and k[1] != line and
               k[1] not in held]
    equal(churned, [], "no churned block left live")
    # Every churn allocation and free was seen: allocations of the program
    # itself are ITER*THREADS + kept; glibc adds a few of its own (threads).
    own = THREADS * ITER + THREADS * KEEP
    check = m["total_allocs"] >= own and m["total_allocs"] - own < 64
    equal(check, True, "total allocations %d close above %d" % (m["total_allocs"], own))
    equal(m["total_allocs"] - m["total_frees"], m["live_blocks"], "allocs - frees = live")
    equal(isinstance(m["ring_waits"], int), True, "ring_waits reported")
finish()
