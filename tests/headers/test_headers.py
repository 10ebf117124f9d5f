"""Every public header compiles on its own, in C and (memwatch.h) C++,
with -Wall -Wextra -Werror; the weak and dlsym ways of calling the API
compile and link without the library."""
import os
import shutil
import subprocess
import tempfile

from mwtest import BUILD, SRC, check, equal, finish, skip

cc = shutil.which("cc") or shutil.which("gcc")
cxx = shutil.which("c++") or shutil.which("g++")
if not cc:
    skip("no C compiler")
incs = ["-I", os.path.join(SRC, "include"), "-I", os.path.join(BUILD, "include")]
headers = ["memwatch/memwatch.h", "memwatch/format.h", "memwatch/version.h"]
with tempfile.TemporaryDirectory() as d:
    for h in headers:
        for lang, compiler, ext in (("c", cc, "c"), ("c++", cxx, "cpp")):
            if not compiler or (lang == "c++" and h != "memwatch/memwatch.h"):
                continue
            src = os.path.join(d, "one." + ext)
            with open(src, "w") as f:
                f.write('#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' % (h, h))
            r = subprocess.run([compiler, "-Wall", "-Wextra", "-Werror", "-std=" +
                                ("c11" if lang == "c" else "c++17"), "-c", src, "-o",
                                os.path.join(d, "one.o")] + incs,
                               capture_output=True, text=True)
            equal(r.returncode, 0, "%s compiles alone as %s: %s" % (h, lang, r.stderr))
    # Both documented ways link and run without libmemwatch.so.
    src = os.path.join(d, "api.c")
    with open(src, "w") as f:
        f.write('#define MEMWATCH_WEAK\n#include <memwatch/memwatch.h>\n#include <stdio.h>\n'
                'int main(void) { int a = memwatch_snapshot_if_loaded("x.mws");\n'
                '  int b = memwatch_snapshot ? memwatch_snapshot(0) : 1;\n'
                '  printf("%d %d\\n", a, b); return 0; }\n')
    exe = os.path.join(d, "api")
    r = subprocess.run([cc, "-Wall", "-Werror", "-fPIE", "-pie", src, "-o", exe, "-ldl"] + incs,
                       capture_output=True, text=True)
    equal(r.returncode, 0, "API program builds without the library: %s" % r.stderr)
    if r.returncode == 0:
        out = subprocess.run([exe], capture_output=True, text=True).stdout
        equal(out, "-38 1\n", "API calls without the library")
finish()
