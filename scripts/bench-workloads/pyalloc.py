# Allocation-heavy Python workload for scripts/bench: objects, dicts,
# lists and strings made and dropped in a loop, ~20 frames deep.
import sys


class Item:
    def __init__(self, i):
        self.i = i
        self.name = "item%d" % i
        self.tags = [i, i + 1]


def build(n, depth):
    if depth:
        return build(n, depth - 1)
    out = []
    for i in range(n):
        out.append(Item(i))
        d = {"k": i, "v": str(i)}
        out.append(d)
    return out


rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 40
total = 0
for r in range(rounds):
    total += len(build(20000, 15))
print(total)
