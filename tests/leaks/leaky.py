# A Python service keeping every request in a module-level list (the leak);
# with FIXED=1 in the environment it keeps only the last one.
import os

history = []


def handle(i):
    request = {"id": i, "payload": "x" * 200, "tags": ["t%d" % i]}  # LINE:request
    return request


fixed = os.environ.get("FIXED") == "1"
for i in range(20000):
    r = handle(i)
    if fixed:
        history[:] = [r]
    else:
        history.append(r)
print("handled", len(history))
