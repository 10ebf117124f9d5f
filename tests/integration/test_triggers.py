"""Snapshot triggers (signal, interval, API), settings, and the exit
snapshot always being the last file of a process."""
import os
import re

from mwtest import BUILD, SRC, Scratch, by_site, check, equal, finish, marker_lines, meta, \
    preload, run, snapshots, top_json, env_with

prog = os.path.join(BUILD, "tests/progs/triggers")
lines = marker_lines(os.path.join(SRC, "tests/progs/triggers.c"))

with Scratch() as out:
    r = preload([prog, "signal"], out, {"MEMWATCH_SIGNAL": "USR2"})
    equal((r.returncode, r.stdout), (0, "signal done\n"), "signal run")
    snaps = snapshots(out)
    equal([meta(s)["trigger"] for s in snaps], ["signal", "exit"], "signal then exit")
    if len(snaps) == 2:
        first = by_site(top_json(snaps[0])["stats"])
        check(("triggers.c", lines["before"]) in first, "signal snapshot has the first leak")
        check(("triggers.c", lines["after"]) not in first, "signal snapshot lacks the later one")
        equal([os.path.basename(s).split(".")[2] for s in snaps], ["0", "1"], "%n numbering")

with Scratch() as out:
    r = preload([prog, "interval"], out, {"MEMWATCH_INTERVAL": "0.2"})
    equal((r.returncode, r.stdout), (0, "interval done\n"), "interval run")
    triggers = [meta(s)["trigger"] for s in snapshots(out)]
    check(triggers.count("interval") >= 3, "several interval snapshots: %r" % triggers)
    equal(triggers[-1:], ["exit"], "the exit snapshot is the last")
    counts = [(by_site(top_json(s)["stats"]).get(("triggers.c", lines["tick"])) or {})
              .get("count", 0) for s in snapshots(out)]
    equal(counts, sorted(counts), "later snapshots hold more ticks")
    equal(counts[-1], 24, "exit snapshot holds every tick")

with Scratch() as out:
    explicit = os.path.join(out, "explicit.mws")
    r = preload([prog, "api", explicit], out)
    m = re.match(r"dlsym=(-?\d+) weak=(-?\d+) to=(-?\d+) written=(\S*) tracing=(-?\d+)", r.stdout)
    check(m is not None, "api output: %r" % r.stdout)
    if m:
        equal(m.groups()[:3], ("0", "0", "0"), "API return values")
        equal(m.group(5), "1", "memwatch_is_tracing")
        equal(m.group(4), os.path.join(out, "memwatch.%d.2.mws" % meta(explicit)["pid"]),
              "memwatch_snapshot_to reports the file it wrote")
    equal(meta(explicit)["trigger"], "api", "explicit path written, trigger api")
    check(("triggers.c", lines["api"]) in by_site(top_json(explicit)["stats"]),
          "api snapshot holds the leak made before the call")
    names = sorted(os.path.basename(s) for s in snapshots(out))
    pid = meta(explicit)["pid"]
    equal(names, sorted(["explicit.mws"] + ["memwatch.%d.%d.mws" % (pid, n) for n in (1, 2, 3)]),
          "files: explicit, two API snapshots by pattern, exit")

# Without memwatch the same program runs, and the API says so.
r = run([prog, "api", "/nonexistent/x.mws"])
equal(r.stdout, "dlsym=-38 weak=-1000 to=-1000 written= tracing=-1000\n", "API without memwatch")

with Scratch() as out:
    r = preload([prog, "memory"], out)
    equal(r.stdout, "r=0 grew=1048576 peakgrew=1 back=1\n", "memwatch_get_traced_memory")

with Scratch() as out:
    pattern = os.path.join(out, "run-%p-%n-%%.mws")
    r = run([prog, "signal"], env=env_with(LD_PRELOAD=os.environ["MEMWATCH_LIB"],
                                           MEMWATCH_OUTPUT=pattern, MEMWATCH_SIGNAL="SIGUSR2"))
    files = sorted(os.listdir(out))
    check(len(files) == 2 and all(re.fullmatch(r"run-\d+-[01]-%\.mws", f) for f in files),
          "pattern %%p %%n %%%%: %r" % files)

with Scratch() as out:
    r = preload([prog, "signal"], out, {"MEMWATCH_DISABLE": "1", "MEMWATCH_SIGNAL": "USR2"})
    equal(snapshots(out), [], "MEMWATCH_DISABLE=1 writes nothing")

with Scratch() as out:
    status = os.path.join(BUILD, "tests/progs/status")
    bad = {"MEMWATCH_INTERVAL": "abc", "MEMWATCH_NATIVE_DEPTH": "0", "MEMWATCH_SIGNAL": "FOO",
           "MEMWATCH_PYTHON_DEPTH": "-3"}
    r = preload([status, "stderr"], out, bad)
    equal(r.returncode, 0, "invalid settings: exit status")
    equal(r.stdout, "to stdout\n", "invalid settings: output")
    warnings = [l for l in r.stderr.splitlines() if l.startswith("memwatch: ")]
    equal(len(warnings), 4, "one warning per invalid value: %r" % warnings)
    for var in bad:
        check(any(var in w for w in warnings), "warning names %s" % var)
    equal([l for l in r.stderr.splitlines() if not l.startswith("memwatch: ")], ["to stderr"],
          "the program's own stderr")
    equal(len(snapshots(out)), 1, "still recorded with defaults")
finish()
