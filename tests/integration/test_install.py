"""After `meson install`, the installed memwatch finds the installed
libmemwatch.so (and its default suppressions) and works."""
import os
import shutil

from mwtest import BUILD, SRC, Scratch, check, equal, finish, run, skip, env_with

meson = shutil.which("meson")
if not meson:
    skip("meson not installed")
with Scratch() as d:
    prefix = os.path.join(d, "prefix")
    b = os.path.join(d, "build")
    r = run([meson, "setup", b, SRC, "--prefix", prefix, "-Dtests=disabled"], timeout=600)
    equal(r.returncode, 0, "configure: %s" % r.stderr[-500:])
    r = run([meson, "install", "-C", b, "--quiet"], timeout=900)
    equal(r.returncode, 0, "install: %s" % r.stderr[-500:])
    exe = os.path.join(prefix, "bin", "memwatch")
    libs = [os.path.join(root, f) for root, _, files in os.walk(prefix) for f in files
            if f == "libmemwatch.so"]
    equal(len(libs), 1, "the library is installed")
    check(os.path.exists(os.path.join(prefix, "share", "memwatch", "default.supp")),
          "the default suppressions are installed")
    check(any(f == "pytest_memwatch.py" for _, _, files in os.walk(prefix) for f in files),
          "the pytest plugin is installed")
    check(os.path.exists(os.path.join(prefix, "include", "memwatch", "memwatch.h")),
          "the public headers are installed")
    shutil.rmtree(b)  # nothing left in a build tree to fall back on
    out = os.path.join(d, "out")
    r = run([exe, "run", "-o", out, "--check", "--max-leaked", "1GiB", "--",
             os.path.join(BUILD, "tests/progs/status"), "exit", "0"], env=env_with())
    equal(r.returncode, 0, "installed memwatch run --check: %s" % r.stderr[-300:])
    check("memwatch: wrote 1 snapshot:" in r.stderr, "a snapshot written by the installed library")
finish()
