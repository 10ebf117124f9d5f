"""libmemwatch.so exports exactly the allocator entry points and the
public API (nm -D --defined-only), nothing of its internals."""
import os
import shutil
import subprocess

from mwtest import LIB, equal, finish, skip

INTENDED = sorted("""
_Exit _exit aligned_alloc calloc free malloc malloc_usable_size memalign posix_memalign
pvalloc realloc reallocarray valloc
memwatch_get_traced_memory memwatch_is_tracing memwatch_snapshot memwatch_snapshot_to
""".split())

nm = shutil.which("nm")
if not nm:
    skip("nm (binutils) is not installed")
out = subprocess.run([nm, "-D", "--defined-only", LIB], capture_output=True, text=True,
                     check=True).stdout
symbols = sorted(line.split()[-1] for line in out.splitlines()
                 if len(line.split()) >= 3 and line.split()[1] in "TWDBRVi")
equal(symbols, INTENDED, "exported symbols")
finish()
