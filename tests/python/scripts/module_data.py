# Module-level data still alive when the script ends must be in the exit
# snapshot, as tracemalloc.take_snapshot() on the last line would see it.
import sys
table = ["row %d" % i for i in range(25000)]  # LINE:table
sys.stdout.write("rows %d\n" % len(table))
