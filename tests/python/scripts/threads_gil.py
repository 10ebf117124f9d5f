# A Python thread's allocations go to its own stack; C code running with
# the GIL released (ctypes) is attributed to the Python line that called it.
import ctypes
import sys
import threading

lib = ctypes.CDLL(sys.argv[1])
lib.leaky_alloc.restype = None  # leaked on purpose; no Python object made
lib.leaky_alloc.argtypes = [ctypes.c_size_t]
kept = []


def worker():
    for i in range(300):
        lib.leaky_alloc(5000)  # LINE:worker_c
    kept.append(["from the worker %d" % i for i in range(20000)])  # LINE:worker_py


t = threading.Thread(target=worker)
t.start()
t.join()
for i in range(200):
    lib.leaky_alloc(7000)  # LINE:main_c
print("kept", len(kept))
