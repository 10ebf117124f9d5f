"""Python programs under memwatch, on every CPython 3.8-3.13 present and
Debian's python3: the exit snapshot after the script, threads and C code
running without the GIL, code objects recreated at the same addresses,
the `memwatch` module, MEMWATCH_PYTHON / _PYTHON_DEPTH / _NATIVE, and the
fallback for Python 2.7, 3.6, 3.7 and programs that are not Python."""
import glob
import json
import os
import re
import subprocess

from mwtest import BIN, BUILD, LIB, SRC, Scratch, by_site, check, equal, finish, marker_lines, \
    meta, pythons, run, snapshots, top_json, env_with

here = os.path.join(SRC, "tests/python")
leaky = os.path.join(BUILD, "tests/python/libmwleaky.so")


def script(name):
    return os.path.join(here, "scripts", name)


def lines_of(name):
    return marker_lines(script(name), "LINE:")


def memwatch_run(py, args, out, *opts, env=None):
    r = run([BIN, "run", "-q", "-o", out] + list(opts) + ["--", py] + args, env=env)
    return r, snapshots(out)


def tm_stats(py, path, *args):
    """tracemalloc's view, for exact comparisons."""
    r = run([py, "-X", "tracemalloc=1", os.path.join(here, "tm_top.py"), path] + list(args),
            env=env_with(PYTHONMALLOC="malloc"))
    return {(f, l): (s, c) for f, l, s, c in json.loads(r.stderr.strip().splitlines()[-1])}


interrupted_runs = []
for label, py in pythons():
    what = lambda s: "%s: %s" % (label, s)

    # The exit snapshot is taken after the script, before teardown.
    with Scratch() as out:
        r, snaps = memwatch_run(py, [script("module_data.py")], out)
        equal((r.returncode, r.stdout), (0, "rows 25000\n"), what("module_data output"))
        equal([meta(s)["trigger"] for s in snaps], ["python-exit"], what("one python-exit snapshot"))
        line = lines_of("module_data.py")["table"]
        ours = by_site(top_json(snaps[0])["stats"]).get(("module_data.py", line)) or {}
        theirs = tm_stats(py, script("module_data.py")).get((script("module_data.py"), line))
        check(theirs and 25000 <= ours.get("count", 0) <= theirs[1] * 1.01,
              what("module-level table at the end of the script: %r vs tracemalloc %r"
                   % (ours.get("count"), theirs)))
        info = meta(snaps[0])
        check(info["python"].startswith("Python %s" % (label if label != "system" else "3.")),
              what("python state %r" % info["python"]))
        equal(info["python_objects"], "malloc (PYTHONMALLOC=malloc set by memwatch)",
              what("how objects are seen"))

    # Threads, and C code with the GIL released (ctypes).
    lines = lines_of("threads_gil.py")
    with Scratch() as out:
        r, snaps = memwatch_run(py, [script("threads_gil.py"), leaky], out)
        equal((r.returncode, r.stdout), (0, "kept 1\n"), what("threads_gil output"))
        top = top_json(snaps[-1])
        sites = by_site(top["stats"])
        # Every block the C function allocated, at the calling line (ctypes may add a
        # small buffer of its own there on its first call).
        for name, n, size in (("worker_c", 300, 5000), ("main_c", 200, 7000)):
            s = sites.get(("threads_gil.py", lines[name])) or {}
            got = (s.get("size", 0), s.get("count", 0))
            check(0 <= got[0] - n * size < 4096 and 0 <= got[1] - n <= 2,
                  what("C allocations without the GIL at %s: %r, want %d x %d" % (name, got, n, size)))
        w = sites.get(("threads_gil.py", lines["worker_py"])) or {}
        check(w.get("count", 0) >= 20000, what("the worker's Python allocations"))
        check(any(f["function"] == "worker" for f in w.get("traceback", [])),
              what("worker traceback names the thread function"))
        check(not any(f["line"] == lines["main_c"] for f in w.get("traceback", [])),
              what("worker traceback is the worker's own stack"))

    # Mixed stacks: the C function and the Python line that called it.
    with Scratch() as out:
        r, snaps = memwatch_run(py, [script("threads_gil.py"), leaky], out, "--native")
        equal(r.returncode, 0, what("mixed mode run"))
        cline = marker_lines(os.path.join(here, "leaky.c"))["cext"]
        s = by_site(top_json(snaps[-1])["stats"]).get(("leaky.c", cline)) or {}
        equal((s.get("count"), s.get("function")), (500, "leaky_alloc"),
              what("mixed: the C extension's function is the site"))
        tb = [(os.path.basename(f["file"]), f["line"]) for f in s.get("traceback", [])]
        check(("threads_gil.py", lines["worker_c"]) in tb or ("threads_gil.py", lines["main_c"]) in tb,
              what("mixed: and the Python line that called it: %r" % tb[-6:]))
        equal(meta(snaps[-1])["python"].endswith("mixed native and Python frames"), True,
              what("mixed mode stated"))

    # Code objects freed and created again never give a wrong file:line.
    with Scratch() as out:
        r, snaps = memwatch_run(py, [script("code_reuse.py")], out)
        equal(r.stdout, "generated 300\n", what("code_reuse output"))
        gens = {}
        for s in top_json(snaps[-1])["stats"]:
            m = re.fullmatch(r"gen(\d{3})\.py", s["file"])
            if m:
                gens.setdefault(int(m.group(1)), []).append(s)
        equal(sorted(gens), list(range(300)), what("every generated file present"))
        wrong = [(k, s["line"]) for k, ss in gens.items() for s in ss if s["line"] != k % 7 + 1]
        equal(wrong, [], what("every generated file at its own line"))
        counts = [sum(s["count"] for s in gens.get(k, [])) for k in range(300)]
        check(all(c >= 10 + k for k, c in enumerate(counts)), what("generated counts"))

    # The memwatch module.
    with Scratch() as out:
        after = os.path.join(out, "after.mws")
        r, snaps = memwatch_run(py, [script("api.py"), after], out)
        lines_out = r.stdout.splitlines()
        equal(len(lines_out), 4, what("api output %r / %r" % (lines_out, r.stderr[-300:])))
        if len(lines_out) == 4:
            before = lines_out[0]
            check(os.path.exists(before) and before.startswith(out), what("snapshot() path"))
            equal(lines_out[1], after, what("snapshot(path) returns the path"))
            equal(lines_out[2], "True True True True", what("is_tracing and get_traced_memory"))
            equal(lines_out[3], "OSError 2", what("an unwritable path raises OSError"))
            equal(meta(before)["trigger"], "api", what("trigger api"))
            d = json.loads(subprocess.run([BIN, "diff", "--json", before, after],
                                          capture_output=True, text=True).stdout)
            top = d["stats"][0] if d["stats"] else {}
            equal((os.path.basename(top.get("file", "")), top.get("line")),
                  ("api.py", lines_of("api.py")["leak"]), what("diff finds the leak first"))
            check(top.get("count_diff", 0) >= 3000, what("the leak's count"))
    r = run([py, "-c", "import memwatch"])
    check(r.returncode != 0 and "ModuleNotFoundError" in r.stderr,
          what("without memwatch the import fails clearly"))

    # A user's own PYTHONMALLOC is respected, and said.
    with Scratch() as out:
        r = run([BIN, "run", "-q", "-o", out, "--", py, "-c",
                 "import os; print(os.environ.get('PYTHONMALLOC'))"],
                env=env_with(PYTHONMALLOC="pymalloc"))
        equal(r.stdout, "pymalloc\n", what("the user's PYTHONMALLOC kept"))
        equal(meta(snapshots(out)[-1])["python_objects"],
              "pymalloc (PYTHONMALLOC=pymalloc set by the user): objects of 512 bytes and less "
              "are not seen", what("and stated"))
        # memwatch's own setting is visible while the interpreter starts; once it runs, it is
        # gone from os.environ (within a few seconds at most, the script waits for it), so the
        # processes the program starts do not inherit it.
        r = run([BIN, "run", "-q", "-o", out, "--", py, "-c",
                 "import os, subprocess, sys, time\n"
                 "for _ in range(500):\n"
                 "    if 'PYTHONMALLOC' not in os.environ: break\n"
                 "    time.sleep(0.01)\n"
                 "print(os.environ.get('PYTHONMALLOC')); sys.stdout.flush()\n"
                 "subprocess.run(['sh', '-c', 'echo ${PYTHONMALLOC:-unset}'])"])
        equal(r.stdout, "None\nunset\n", what("memwatch's PYTHONMALLOC not passed on"))

    # A signal that arrives while memwatch's safe-point work runs Python code is the
    # program's: its KeyboardInterrupt reaches the program (it used to be swallowed).
    # Whether the work runs after the script's import hook is installed is up to timing:
    # a few runs, each must be consistent, and some run must have exercised it.
    for attempt in range(8):
        with Scratch() as out:
            r = run([BIN, "run", "-q", "-o", out, "--", py, "-S", script("interrupted.py")])
            equal(r.returncode, 0, what("interrupted.py exit status"))
            check(r.stdout in ("fired KeyboardInterrupt\n", "not fired no KeyboardInterrupt\n"),
                  what("a SIGINT during memwatch's work reaches the program: %r" % r.stdout))
            if r.stdout.startswith("fired"):
                interrupted_runs.append(label)
                break

    # Settings.
    with Scratch() as out:
        r, snaps = memwatch_run(py, [script("deep.py")], out, "--python-depth", "3")
        s = by_site(top_json(snaps[-1])["stats"]).get(("deep.py", lines_of("deep.py")["deep"])) or {}
        equal(len(s.get("traceback", [])), 3, what("MEMWATCH_PYTHON_DEPTH=3"))
    with Scratch() as out:
        r, snaps = memwatch_run(py, [script("deep.py")], out, "--python", "off")
        equal(r.stdout, "20000\n", what("MEMWATCH_PYTHON=off output"))
        m = meta(snaps[-1])
        check("off" in m["python"], what("off stated: %r" % m["python"]))
        stats = top_json(snaps[-1])["stats"]
        check(stats and all(f["module"] for s in stats for f in s["traceback"]),
              what("no Python frames when off"))

check(interrupted_runs, "a SIGINT arrived during memwatch's work in some run")
print("SIGINT during memwatch's work exercised on: %s" % ", ".join(interrupted_runs))

# Python 2.7, 3.6, 3.7, and programs that are not Python: they run as
# before, with native frames, and memwatch says so.
root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() \
    if subprocess.run(["which", "pyenv"], capture_output=True).returncode == 0 else ""
for ver in ("2.7", "3.6", "3.7"):
    found = sorted(glob.glob(os.path.join(root, "versions", ver + ".*", "bin", "python" + ver))) \
        if root else []
    if not found:
        print("skipping Python %s: not installed" % ver)
        continue
    py = found[-1]
    with Scratch() as out:
        plain = run([py, script("plain.py")])
        r, snaps = memwatch_run(py, [script("plain.py")], out)
        equal((r.returncode, r.stdout, r.stderr), (plain.returncode, plain.stdout, plain.stderr),
              "Python %s runs as before" % ver)
        equal(plain.returncode, 3, "Python %s exit status" % ver)
        m = meta(snaps[-1])
        equal(m["python"], "Python %s: not supported (3.8-3.13 are); native frames only" % ver,
              "Python %s fallback stated" % ver)
        stats = top_json(snaps[-1])["stats"]
        check(stats and all(s["module"] for s in stats), "Python %s: native frames" % ver)
        v = run([BIN, "run", "-q", "-v", "-o", out, "--", py, script("plain.py")])
        said = [l for l in v.stderr.splitlines() if "not supported" in l]
        equal(len(said), 1, "Python %s: said once with MEMWATCH_VERBOSE=1" % ver)
with Scratch() as out:
    r, snaps = memwatch_run(os.path.join(BUILD, "tests/progs/status"), ["exit", "0"], out)
    equal(meta(snaps[-1])["python"], "not a Python process", "not Python: stated")

# A free-threaded build (none can be installed here: tests/progs/fake_ft_python shows
# memwatch what one shows it): PYTHONMALLOC=malloc would be fatal, so it is left alone
# (the user's own value too), the program runs unchanged, frames are native.
fake = os.path.join(BUILD, "tests/progs/fake_ft_python")
for users in (None, "mimalloc"):
    with Scratch() as out:
        env = env_with(PYTHONMALLOC=users)
        plain = run([fake], env=env)
        r = run([BIN, "run", "-q", "-o", out, "--", fake], env=env)
        equal((r.returncode, r.stdout, r.stderr), (5, "PYTHONMALLOC=%s\n" % (users or "unset"), ""),
              "free-threaded (PYTHONMALLOC=%s): runs as before" % users)
        equal((plain.returncode, plain.stdout), (r.returncode, r.stdout),
              "free-threaded (PYTHONMALLOC=%s): same as without memwatch" % users)
        snaps = snapshots(out)
        m = meta(snaps[-1])
        equal((m["python"], m["python_objects"]),
              ("Python 3.13 (free-threaded): native frames only",
               "mimalloc (free-threaded build): objects are not seen"),
              "free-threaded: stated in the snapshot")
        kept = marker_lines(os.path.join(SRC, "tests/progs/fake_ft_python.c"))["kept"]
        s = by_site(top_json(snaps[-1])["stats"]).get(("fake_ft_python.c", kept), {})
        equal((s.get("size"), s.get("count")), (3000, 3), "free-threaded: native sites exact")
finish()
