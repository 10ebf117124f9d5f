"""Snapshot size grows with distinct sites, not allocations: 10 million
allocations from 1,000 sites give a file under 1 MiB."""
import os

from mwtest import BUILD, Scratch, check, equal, finish, meta, preload, snapshots, top_json

with Scratch() as out:
    r = preload([os.path.join(BUILD, "tests/progs/manysites")], out, timeout=900)
    equal(r.returncode, 0, "exit status")
    snap = snapshots(out)[0]
    size = os.path.getsize(snap)
    check(size < 1 << 20, "snapshot size %d < 1 MiB" % size)
    m = meta(snap)
    check(m["total_allocs"] >= 10000000, "10 million allocations counted (%d)" % m["total_allocs"])
    top = top_json(snap, "--key", "traceback")
    own = [s for s in top["stats"] if s["function"] == "leaf"]
    equal(len(own), 1000, "1000 distinct live stacks")
    equal(sorted({s["count"] for s in own}), [1], "one live block each")
finish()
