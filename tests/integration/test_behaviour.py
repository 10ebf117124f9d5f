"""The profiled program behaves as without memwatch: output, exit status,
terminating signal and standard input pass through `memwatch run`, on real
programs (CPython's own regression tests, git, a C++ program, a bash script
starting hundreds of processes, jemalloc preloaded after memwatch)."""
import glob
import os
import re
import shutil
import signal

from mwtest import BIN, BUILD, LIB, SRC, Scratch, by_site, check, equal, finish, \
    marker_lines, meta, pythons, run, snapshots, top_json, env_with

status = os.path.join(BUILD, "tests/progs/status")


def both(cmd, out, stdin=None, cwd=None, timeout=900):
    plain = run(cmd, stdin=stdin, cwd=cwd, timeout=timeout)
    traced = run([BIN, "run", "-q", "-o", out, "--"] + cmd, stdin=stdin, cwd=cwd,
                 timeout=timeout)
    return plain, traced


with Scratch() as out:
    for n in (0, 1, 42):
        p, t = both([status, "exit", str(n)], out)
        equal((t.returncode, t.stdout), (p.returncode, p.stdout), "exit %d" % n)
    p, t = both([status, "_exit", "7"], out)
    equal(t.returncode, 7, "_exit status")
    for name, sig in (("TERM", signal.SIGTERM), ("SEGV", signal.SIGSEGV),
                      ("ABRT", signal.SIGABRT), ("KILL", signal.SIGKILL)):
        p, t = both([status, "signal", name], out)
        equal((p.returncode, t.returncode), (-sig, -sig), "terminated by SIG%s" % name)
    data = "".join("line %d of input\n" % i for i in range(20000))
    p, t = both([status, "stdin"], out, stdin=data)
    equal(t.stdout, p.stdout, "stdin passes through")
    p, t = both([status, "stderr"], out)
    equal((t.stdout, t.stderr), (p.stdout, p.stderr), "stdout and stderr pass through")
    p, t = both([status, "pthread_exit"], out)
    equal((t.returncode, t.stdout), (0, "main thread leaves\nlate thread done 1\n"),
          "main thread ending with pthread_exit: the process still exits 0")
    equal(p.stdout, t.stdout, "pthread_exit output")
    r = run([BIN, "run", "--", "/nonexistent/program"])
    equal(r.returncode, 127, "missing program: 127")
    equal(r.stderr.count("\n"), 1, "missing program: one line")

with Scratch() as out:
    p, t = both([os.path.join(BUILD, "tests/progs/behave")], out)
    equal((t.returncode, t.stdout), (0, p.stdout), "C++ program output")
    equal(len(snapshots(out)), 1, "C++ program snapshot")

with Scratch() as out:
    script = "n=0; for i in $(seq 300); do /bin/true; n=$((n+1)); done; " \
             "x=$(echo sub); echo \"$n $x\" | cat"
    p, t = both(["bash", "-c", script], out)
    equal((t.returncode, t.stdout), (0, p.stdout), "bash starting hundreds of processes")
    files = snapshots(out)
    check(len(files) >= 300, "a snapshot per process (%d)" % len(files))
    pids = [meta(f)["pid"] for f in files[:5]] if files else []
    equal(len(set(pids)), len(pids), "distinct processes")

git = shutil.which("git")
if git:
    with Scratch() as out, Scratch() as repo:
        genv = env_with(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
                        GIT_COMMITTER_EMAIL="t@e", HOME=repo, GIT_CONFIG_NOSYSTEM="1")
        steps = [["git", "init", "-q", "."]]
        for i in range(3):
            steps.append(["bash", "-c", "seq %d > f%d.txt" % (1000 * (i + 1), i)])
            steps.append(["git", "add", "."])
            steps.append(["git", "commit", "-q", "-m", "commit %d" % i])
        steps += [["git", "log", "--format=%s"], ["git", "gc", "-q"], ["git", "fsck"],
                  ["git", "status", "--short"]]
        outputs = []
        for cmd in steps:
            t = run([BIN, "run", "-q", "-o", out, "--"] + cmd, env=genv, cwd=repo)
            equal(t.returncode, 0, "git %s" % " ".join(cmd[1:2]))
            outputs.append(t.stdout)
        equal(outputs[-4], "commit 2\ncommit 1\ncommit 0\n", "git log output")
        check(len(snapshots(out)) >= len(steps), "git commands wrote snapshots")
else:
    print("skipping git: not installed")

jemalloc = glob.glob("/usr/lib/*/libjemalloc.so.2")
if jemalloc:
    with Scratch() as out:
        env = env_with(LD_PRELOAD="%s %s" % (LIB, jemalloc[0]),
                       MEMWATCH_OUTPUT=os.path.join(out, "memwatch.%p.%n.mws"))
        r = run([os.path.join(BUILD, "tests/progs/leaks")], env=env)
        equal((r.returncode, r.stdout), (0, "leaks: 226 blocks kept\n"), "leaks under jemalloc")
        lines = marker_lines(os.path.join(SRC, "tests/progs/leaks.c"))
        sites = by_site(top_json(snapshots(out)[0])["stats"])
        equal((sites.get(("leaks.c", lines["malloc"])) or {}).get("size"), 100000,
              "exact numbers under jemalloc")
        equal((sites.get(("leaks.c", lines["realloc"])) or {}).get("size"), 80000,
              "realloc under jemalloc")
        maps = run(["bash", "-c", "cat /proc/$$/maps"], env=env).stdout
        check("libjemalloc" in maps, "jemalloc really loaded")
else:
    print("skipping jemalloc: libjemalloc2 not installed")

# A subset of CPython's own regression tests, with and without memwatch.
candidates = [p for label, p in pythons(include_system=False) if label == "3.11"]
candidates += [p for label, p in pythons(include_system=True) if label == "system"]
testpy = None
for py in candidates:
    if run([py, "-c", "import test.regrtest"]).returncode == 0:
        testpy = py
        break
if testpy:
    # The same subset with and without memwatch: the same tests must pass
    # and fail (an interpreter's own environment may fail some anyway).
    # -w re-runs a failed test once, as CPython's own CI does: a few of
    # test_subprocess's timing checks fail now and then on a loaded
    # machine, with or without memwatch; what fails twice counts.
    def failed(result):
        names, listing = set(), False
        for line in result.stdout.splitlines():
            if re.match(r"\d+ tests? failed:$", line):
                listing = True
            elif listing and line.startswith("    "):
                names.update(line.split())
            else:
                listing = False
        return names

    with Scratch() as out:
        cmd = [testpy, "-m", "test", "-w", "test_json", "test_dict", "test_threading",
               "test_subprocess"]
        p = run(cmd, timeout=1800)
        t = run([BIN, "run", "-q", "-o", out, "--"] + cmd, timeout=1800)
        equal(t.returncode, p.returncode, "CPython regression tests: same status (%s)" % testpy)
        equal(failed(t), failed(p), "CPython regression tests: the same failures")
        check("Total tests: run=" in t.stdout, "regrtest ran under memwatch")
        if t.returncode != p.returncode or failed(t) != failed(p):
            print(p.stdout[-2000:], t.stdout[-3000:], t.stderr[-2000:])
else:
    print("skipping CPython regression tests: no interpreter with the test package")
finish()
