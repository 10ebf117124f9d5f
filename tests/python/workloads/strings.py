# Strings built on distinct lines; module-level data alive at the end.
words = ["word-%d" % i for i in range(300000)]
joined = [" ".join(words[i:i + 8]) for i in range(0, 90000, 2)]
upper = [w.upper() + "!" for w in words[:140000]]
formatted = ["{:>20}|{:<20}".format(i, -i) for i in range(50000)]
encoded = [w.encode() * 3 for w in words[:52000]]
print(len(words), len(joined), len(upper), len(formatted), len(encoded))
