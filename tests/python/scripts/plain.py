# Runs on every Python, 2.7 included.
import sys
data = ["item %d" % i for i in range(20000)]
sys.stdout.write("items %d\n" % len(data))
sys.exit(3)
