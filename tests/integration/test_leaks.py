"""Exact numbers: each leak site of tests/progs/leaks.c reports its exact
live bytes and count at its own line; freed blocks are absent; a realloc'd
block counts at its final size at its realloc site; a failed realloc leaves
the block at its size and site; C++ new/new[] report the new-expression."""
import os
import sys

from mwtest import (SRC, BUILD, Scratch, by_site, check, equal, finish, marker_lines,
                    preload, snapshots, top_json)

EXPECTED = {  # marker: (bytes per block, blocks)
    "malloc": (1000, 100),
    "calloc": (120, 30),
    "realloc": (4000, 20),
    "reallocarray": (200, 5),
    "posix_memalign": (333, 7),
    "aligned_alloc": (256, 9),
    "memalign": (100, 11),
    "valloc": (5000, 3),
    "failed": (222, 1),
    "thread": (500, 40),
    "new_array": (240, 6),
    "new_one": (24, 4),
}

src_c = os.path.join(SRC, "tests/progs/leaks.c")
src_cpp = os.path.join(SRC, "tests/progs/leaks_new.cpp")
lines = {**{k: ("leaks.c", v) for k, v in marker_lines(src_c).items()},
         **{k: ("leaks_new.cpp", v) for k, v in marker_lines(src_cpp).items()}}
freed = marker_lines(src_c, "FREED:")
held = marker_lines(src_c, "HELD:")  # libc's own blocks (thread, stdout buffer)

with Scratch() as out:
    r = preload([os.path.join(BUILD, "tests/progs/leaks")], out)
    equal(r.returncode, 0, "exit status")
    equal(r.stdout, "leaks: 226 blocks kept\n", "program output")
    snaps = snapshots(out)
    equal(len(snaps), 1, "snapshot files")
    top = top_json(snaps[0])
    sites = by_site(top["stats"])
    for name, (size, count) in EXPECTED.items():
        key = lines[name]
        s = sites.get(key)
        if check(s is not None, "site %s (%s:%d) present" % (name, *key)):
            equal((s["size"], s["count"]), (size * count, count), "site %s size, count" % name)
            check(s["file"] == os.path.join(SRC, "tests/progs", key[0]),
                  "site %s file is the absolute source path, got %s" % (name, s["file"]))
    own = {k for k in sites if k[0] in ("leaks.c", "leaks_new.cpp")}
    equal(sorted(own), sorted([lines[n] for n in EXPECTED] + [("leaks.c", l) for l in held.values()]),
          "the program's own live sites")
    for name, line in freed.items():
        check(("leaks.c", line) not in sites, "freed site %s (line %d) absent" % (name, line))
    # Function names and the traceback of the C++ site.
    s = sites.get(lines["new_array"])
    if s:
        equal(s["function"], "cpp_leaks", "function of new[] site")
        equal(s["traceback"][-1]["line"], lines["new_array"][1], "traceback ends at the site")
        check(any(f["function"] == "main" for f in s["traceback"]), "traceback reaches main")
    s = sites.get(lines["thread"])
    if s:
        equal(s["function"], "thread_main", "thread site function")
finish()
