# The memwatch module: leak hunting from inside a program in three lines.
import sys

import memwatch

before = memwatch.snapshot()
leak = [bytes(1000) for _ in range(3000)]  # LINE:leak
after = memwatch.snapshot(sys.argv[1])
cur, peak = memwatch.get_traced_memory()
big = bytearray(5 * 1024 * 1024)
cur2, peak2 = memwatch.get_traced_memory()
del big
cur3, peak3 = memwatch.get_traced_memory()
print(before)
print(after)
print(memwatch.is_tracing(), cur2 - cur >= 5 * 1024 * 1024, peak3 >= cur2, cur3 < cur2)
try:
    memwatch.snapshot("/nonexistent-dir/x.mws")
except OSError as e:
    print("OSError", e.errno)
