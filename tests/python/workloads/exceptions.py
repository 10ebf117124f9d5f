# An exception-heavy path: raised, caught, and kept.
kept = []


def fails(i):
    raise ValueError("bad value %d" % i)


for i in range(30000):
    try:
        fails(i)
    except ValueError as e:
        kept.append((e, e.args[0], [i]))
messages = ["message %d" % i for i in range(90000)]
contexts = [{"where": i} for i in range(45000)]
tails = [(i, -i) for i in range(45000)]
print(len(kept), len(messages), len(contexts), len(tails))
