"""Helpers shared by memwatch's test drivers (stdlib only).

Every driver is run by meson with MEMWATCH_BIN (the memwatch command),
MEMWATCH_LIB (libmemwatch.so), MEMWATCH_SRC and MEMWATCH_BUILD set.  A
driver exits 0 on success, 1 on failure, 77 when skipped (meson's code),
printing why.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("MEMWATCH_BIN", "")
LIB = os.environ.get("MEMWATCH_LIB", "")
SRC = os.environ.get("MEMWATCH_SRC", "")
BUILD = os.environ.get("MEMWATCH_BUILD", "")
SKIP = 77

failures = []


def check(cond, what):
    """Record a failed expectation (the driver goes on, and fails at the end)."""
    if not cond:
        failures.append(what)
        print("FAIL: " + what, flush=True)
    return cond


def equal(got, want, what):
    return check(got == want, "%s: got %r, want %r" % (what, got, want))


def finish():
    if failures:
        print("%d expectation(s) failed" % len(failures))
        sys.exit(1)
    print("ok")
    sys.exit(0)


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


class Scratch:
    """A temporary directory removed at the end (kept with MEMWATCH_KEEP=1)."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="memwatch-test-")
        return self.path

    def __exit__(self, *exc):
        if not os.environ.get("MEMWATCH_KEEP"):
            shutil.rmtree(self.path, ignore_errors=True)


def env_with(**extra):
    env = dict(os.environ)
    for k in [k for k in env if k.startswith("MEMWATCH_") and k not in
              ("MEMWATCH_BIN", "MEMWATCH_LIB", "MEMWATCH_SRC", "MEMWATCH_BUILD")]:
        del env[k]
    env.pop("LD_PRELOAD", None)
    env.pop("PYTHONMALLOC", None)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def run(cmd, env=None, stdin=None, timeout=600, cwd=None):
    """Run a command, return CompletedProcess (text, captured)."""
    return subprocess.run(cmd, env=env or env_with(), input=stdin, capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def preload(cmd, outdir, extra_env=None, **kw):
    """Run cmd with LD_PRELOAD=libmemwatch.so writing into outdir."""
    env = env_with(LD_PRELOAD=LIB, MEMWATCH_OUTPUT=os.path.join(outdir, "memwatch.%p.%n.mws"),
                   **(extra_env or {}))
    return run(cmd, env=env, **kw)


def snapshots(outdir):
    """Snapshot files in outdir, sorted by (pid, sequence)."""
    def key(name):
        m = re.match(r"memwatch\.(\d+)\.(\d+)", name)
        return (int(m.group(1)), int(m.group(2))) if m else (1 << 62, 0)
    names = sorted((n for n in os.listdir(outdir) if n.endswith(".mws")), key=key)
    return [os.path.join(outdir, n) for n in names]


def memwatch(*args, env=None, check_rc=True):
    r = run([BIN] + [str(a) for a in args], env=env)
    if check_rc and r.returncode != 0:
        raise AssertionError("memwatch %s failed (%d): %s" % (" ".join(map(str, args)),
                                                              r.returncode, r.stderr))
    return r


def top_json(snap, *args):
    return json.loads(memwatch("top", "--json", "-n", "0", snap, *args).stdout)


def info_json(snap):
    return json.loads(memwatch("info", "--json", snap).stdout)


def meta(snap):
    return info_json(snap)["snapshot"]["meta"]


def marker_lines(path, prefix="LEAK:"):
    """{name: line} for comments like /* LEAK:name */ in a source file."""
    found = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            for m in re.finditer(re.escape(prefix) + r"([A-Za-z0-9_]+)", line):
                found[m.group(1)] = n
    return found


def by_site(stats):
    """{(basename, line): stat} for a top --json stats list."""
    return {(os.path.basename(s["file"]), s["line"]): s for s in stats}


def pythons(include_system=True):
    """[(label, path)] for every CPython found under $(pyenv root)/versions
    and /usr/bin/python3, skipping absent ones with a message."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            root = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    found = []
    for minor in range(8, 14):
        label = "3.%d" % minor
        vers = os.path.join(root, "versions")
        cands = sorted(d for d in os.listdir(vers) if d.startswith(label + ".")) \
            if os.path.isdir(vers) else []
        path = os.path.join(vers, cands[-1], "bin", "python" + label) if cands else None
        if path and os.access(path, os.X_OK):
            found.append((label, path))
        else:
            print("skipping CPython %s: not installed under %s/versions" % (label, root))
    if include_system:
        if os.access("/usr/bin/python3", os.X_OK):
            found.append(("system", "/usr/bin/python3"))
        else:
            print("skipping /usr/bin/python3: not installed")
    return found
