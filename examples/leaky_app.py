"""A toy Python request handler with one known leak, for memwatch's demo.

Each request builds a response (freed: not a leak), may fill a bounded
cache (held, but stops growing: not a leak) and records an audit entry in a
module-level list that is never pruned (the leak).  Halfway through it asks
memwatch for a snapshot when it runs under memwatch, so a diff of that
snapshot and the exit one shows what grew.  It runs, unchanged, without
memwatch too.
"""
import sys

REQUESTS = 20000
CACHE_SLOTS = 256

cache = {}
audit = []  # the leak: appended to, never pruned


def handle(i):
    path = "/items/%d" % (i % 1000)
    response = {"path": path, "body": "x" * 200}  # freed when the request ends
    if len(cache) < CACHE_SLOTS:
        cache[path] = path.upper()  # bounded
    audit.append("request %d for %s: %s" % (i, path, "ok" * 100))  # leaks one string per request
    return len(response["body"])


def main():
    try:
        import memwatch  # present only inside a process memwatch profiles
    except ImportError:
        memwatch = None
    total = 0
    for i in range(REQUESTS):
        total += handle(i)
        if i == REQUESTS // 2 and memwatch:
            memwatch.snapshot()
    print("handled %d requests (%d bytes of responses)" % (REQUESTS, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
