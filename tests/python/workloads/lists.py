# Lists growing by append (realloc), and lists of lists.
grow = []
for i in range(600000):
    grow.append(i)
rows = [[j for j in range(10)] for i in range(40000)]
pairs = [(i, -i) for i in range(120000)]
floats = [i * 0.5 for i in range(150000)]
chunks = [list(range(50)) for _ in range(8000)]
print(len(grow), len(rows), len(pairs), len(floats), len(chunks))
