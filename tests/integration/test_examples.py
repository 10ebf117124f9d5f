"""The bundled examples that scripts/demo runs report exactly their known
leaks: examples/leaky_server.c (C, through memwatch run) and
examples/leaky_app.py (Python, on every CPython present), in top and in the
diff of the program's own mid-run snapshot against the exit one."""
import json
import os

from mwtest import (BIN, BUILD, SRC, Scratch, by_site, check, env_with, equal, finish,
                    memwatch, pythons, run, snapshots, top_json)

REQUESTS = 20000


def line_of(path, text):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise AssertionError("%r not in %s" % (text, path))


def diff_json(old, new):
    return json.loads(memwatch("diff", "--json", "-n", "0", old, new).stdout)


def mid_and_exit(out, what):
    snaps = snapshots(out)
    equal([meta_trigger(s) for s in snaps][-2:], ["api", what], "%s: snapshots" % what)
    return snaps[-2], snaps[-1]


def meta_trigger(snap):
    return json.loads(memwatch("info", "--json", snap).stdout)["snapshot"]["meta"]["trigger"]


# C: sessions (64 B each, one per request), every tenth path copied, a
# 256-slot cache of paths that stops growing, the sessions array.
server_c = os.path.join(SRC, "examples/leaky_server.c")
session = line_of(server_c, "leaks: one per request")
copy = line_of(server_c, "leaks: every tenth request")
cached = line_of(server_c, "held by the cache")
array = line_of(server_c, "sessions = calloc")


def path_bytes(ids):
    return sum(len("/api/items/%d" % i) + 1 for i in ids)


want = {
    session: (64 * REQUESTS, REQUESTS),
    copy: (path_bytes(range(0, REQUESTS, 10)), REQUESTS // 10),
    cached: (path_bytes(range(REQUESTS - 256, REQUESTS)), 256),
    array: (8 * REQUESTS, 1),
}
with Scratch() as out:
    r = run([BIN, "run", "-q", "-o", out, "--", os.path.join(BUILD, "examples/leaky_server")])
    equal(r.returncode, 0, "leaky_server: exit status")
    equal(r.stdout, "handled %d requests (%d bytes of paths)\n"
          % (REQUESTS, sum(len("/api/items/%d" % i) + ord("x") for i in range(REQUESTS))),
          "leaky_server: output unchanged")
    mid, last = mid_and_exit(out, "exit")
    stats = top_json(last)["stats"]
    sites = by_site(stats)
    for line, (size, count) in sorted(want.items()):
        s = sites.get(("leaky_server.c", line), {})
        equal((s.get("size"), s.get("count")), (size, count), "leaky_server.c:%d" % line)
    equal((os.path.basename(stats[0]["file"]), stats[0]["line"]), ("leaky_server.c", session),
          "leaky_server: the session leak comes first")
    d = by_site(diff_json(mid, last)["stats"])
    # The mid-run snapshot follows request 10000: 10001 sessions, 1001 copies.
    equal(d.get(("leaky_server.c", session), {}).get("count_diff"), REQUESTS - 10001,
          "leaky_server: sessions grew")
    equal(d.get(("leaky_server.c", copy), {}).get("count_diff"), REQUESTS // 10 - 1001,
          "leaky_server: copies grew")
    equal(d.get(("leaky_server.c", array), {}).get("size_diff"), 0, "leaky_server: array did not")

# Python: one audit string a request, plus the list's own array, at one line.
app = os.path.join(SRC, "examples/leaky_app.py")
audit = line_of(app, "leaks one string per request")
for label, py in pythons():
    with Scratch() as out:
        r = run([BIN, "run", "-q", "-o", out, "--", py, app])
        equal(r.returncode, 0, "%s leaky_app: exit status" % label)
        equal(r.stdout, "handled %d requests (%d bytes of responses)\n" % (REQUESTS, 200 * REQUESTS),
              "%s leaky_app: output unchanged" % label)
        mid, last = mid_and_exit(out, "python-exit")
        top = top_json(last)["stats"][0]
        equal((top["file"], top["line"], top["count"]), (app, audit, REQUESTS + 1),
              "%s leaky_app: the audit leak comes first, with every string" % label)
        first = diff_json(mid, last)["stats"][0]
        equal((first["file"], first["line"], first["count_diff"]), (app, audit, REQUESTS - 10001),
              "%s leaky_app: and grows the most" % label)
finish()
