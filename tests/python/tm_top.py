"""Run a script under tracemalloc (started with -X tracemalloc=1) and
print the top statistics of a snapshot taken when the script has finished,
as JSON: [[filename, lineno, size, count], ...]."""
import json
import runpy
import sys
import tracemalloc

script = sys.argv[1]
sys.argv = sys.argv[1:]
kept = runpy.run_path(script, run_name="__main__")
snapshot = tracemalloc.take_snapshot()
stats = snapshot.statistics("lineno")
json.dump([[s.traceback[0].filename, s.traceback[0].lineno, s.size, s.count]
           for s in stats[:20]], sys.stderr)
