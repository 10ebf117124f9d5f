# Dictionaries of several shapes.
by_id = {i: i * 2 for i in range(150000)}
records = [{"id": i, "name": "n%d" % i, "tags": None} for i in range(40000)]
index = {}
for i in range(200000):
    index["key%d" % i] = [i, i]
nested = {i: {"a": i, "b": {"c": i}} for i in range(30000)}
print(len(by_id), len(records), len(index), len(nested))
