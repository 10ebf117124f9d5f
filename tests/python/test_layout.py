"""The per-version offsets in preload/python.c are those of the headers
installed with each CPython 3.8-3.13 present (compiled with offsetof
against Py_BUILD_CORE internals).  Versions without headers are skipped."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from mwtest import SRC, check, equal, finish, pythons, skip

cc = shutil.which("cc") or shutil.which("gcc")
if not cc:
    skip("no C compiler")
src = open(os.path.join(SRC, "preload/python.c")).read()
table = {}
for m in re.finditer(r"\{ (3\d\d), ([\d, ]+) \}", src):
    table[int(m.group(1))] = [int(x) for x in m.group(2).split(",")]

PROGRAM = r"""
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stdio.h>
#include <stddef.h>
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_frame.h"
#endif
#include "frameobject.h"
#define O(t, f) (int)offsetof(t, f)
int main(void) {
#if PY_VERSION_HEX < 0x030B0000
    printf("%d, 0, %d, %d, %d, 0, 0, 0, 0, ", O(PyThreadState, frame), O(PyFrameObject, f_back),
           O(PyFrameObject, f_code), O(PyFrameObject, f_lasti));
    printf("%d, %d, 0, %d, ", O(PyCodeObject, co_filename), O(PyCodeObject, co_name),
           O(PyCodeObject, co_firstlineno));
#if PY_VERSION_HEX < 0x030A0000
    printf("%d, ", O(PyCodeObject, co_lnotab));
#else
    printf("%d, ", O(PyCodeObject, co_linetable));
#endif
#else
#if PY_VERSION_HEX < 0x030C0000
    printf("%d, %d, %d, %d, %d, %d, %d, ", O(PyThreadState, cframe), O(_PyCFrame, current_frame),
           O(_PyInterpreterFrame, previous), O(_PyInterpreterFrame, f_code),
           O(_PyInterpreterFrame, prev_instr), O(_PyInterpreterFrame, owner),
           O(_PyInterpreterFrame, is_entry));
#elif PY_VERSION_HEX < 0x030D0000
    printf("%d, %d, %d, %d, %d, %d, 0, ", O(PyThreadState, cframe), O(_PyCFrame, current_frame),
           O(_PyInterpreterFrame, previous), O(_PyInterpreterFrame, f_code),
           O(_PyInterpreterFrame, prev_instr), O(_PyInterpreterFrame, owner));
#else
    printf("%d, 0, %d, %d, %d, %d, 0, ", O(PyThreadState, current_frame),
           O(_PyInterpreterFrame, previous), O(_PyInterpreterFrame, f_executable),
           O(_PyInterpreterFrame, instr_ptr), O(_PyInterpreterFrame, owner));
#endif
    printf("%d, %d, %d, %d, %d, %d, %d, ", O(PyCodeObject, co_code_adaptive),
           O(PyCodeObject, _co_firsttraceable), O(PyCodeObject, co_filename),
           O(PyCodeObject, co_name), O(PyCodeObject, co_qualname),
           O(PyCodeObject, co_firstlineno), O(PyCodeObject, co_linetable));
#endif
    printf("%d, %d\n", (int)sizeof(PyASCIIObject), (int)sizeof(PyCompactUnicodeObject));
    return 0;
}
"""

with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "offsets.c")
    with open(path, "w") as f:
        f.write(PROGRAM)
    checked = 0
    for label, py in pythons(include_system=False):
        prefix = os.path.dirname(os.path.dirname(py))
        inc = os.path.join(prefix, "include", "python" + label)
        if not os.path.exists(os.path.join(inc, "Python.h")):
            print("skipping %s: no headers in %s" % (label, inc))
            continue
        exe = os.path.join(d, "offsets" + label)
        r = subprocess.run([cc, "-w", "-I", inc, "-I", os.path.join(inc, "internal"), path, "-o",
                            exe], capture_output=True, text=True)
        if not check(r.returncode == 0, "%s: offsets program builds: %s" % (label, r.stderr[-500:])):
            continue
        got = [int(x) for x in subprocess.run([exe], capture_output=True, text=True,
                                              check=True).stdout.split(",")]
        version = int(label.replace(".", "0")) if len(label) == 3 else int(label.replace(".", ""))
        equal(got, table.get(version), "%s: the layout table of python.c" % label)
        checked += 1
    if not checked:
        skip("no CPython headers found")
finish()
