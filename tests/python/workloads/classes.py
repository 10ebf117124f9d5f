# Instances with a __dict__ and with __slots__.
class Plain:
    def __init__(self, i):
        self.i = i
        self.label = "p%d" % i
        self.extra = [i] * 14


class Slotted:
    __slots__ = ("i", "label")

    def __init__(self, i):
        self.i = i
        self.label = "s%d" % i


plain = [Plain(i) for i in range(80000)]
slotted = [Slotted(i) for i in range(110000)]
print(len(plain), len(slotted))
