# Objects produced inside generators and consumed elsewhere.
def numbers(n):
    for i in range(n):
        yield "value %d" % i


def pairs(n):
    for i in range(n):
        yield (i, [i, i + 1, i + 2, i + 3])


kept = list(numbers(150000))
more = list(pairs(120000))
squares = list(x * x for x in range(250000))
words = [w for w in ("word %d" % i for i in range(90000))]
print(len(kept), len(more), len(squares), len(words))
