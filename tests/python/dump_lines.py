"""Print, as JSON, every code object of a few sources with its raw line
table and the line of each instruction offset as CPython itself computes
it (co_lines on 3.10+, the lnotab walk of dis.findlinestarts before).
Runs on the interpreter being checked; stdlib only."""
import dis
import json
import sys
import types

SOURCE = '''
import os

def simple(a, b):
    x = a + b
    y = [x] * 3
    return y

def loops(n):
    total = 0
    for i in range(n):
        if i % 2:
            total += i
        else:
            total -= 1
    while total > 0:
        total //= 2
    return total

class K:
    def method(self, v):
        try:
            return 1 / v
        except ZeroDivisionError:
            return None
        finally:
            self.done = True

def gen(n):
    yield from (i * i for i in range(n))

def long_function():
''' + "".join("    v%d = %d\n" % (i, i) for i in range(400)) + '''
    return v0

lam = lambda q: (q,
                 q * 2,
                 q * 3)

async def coro(x):
    await x
    return [y for y in
            range(10)]
'''


def codes(code):
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from codes(c)


def lines_of(code):
    """{byte offset: line} for every instruction, as PyCode_Addr2Line."""
    out = {}
    size = len(code.co_code)
    if hasattr(code, "co_lines"):
        for start, end, line in code.co_lines():
            for off in range(start, end, 2):
                out[off] = line if line is not None else -1
    else:
        starts = dict(dis.findlinestarts(code))
        line = code.co_firstlineno
        for off in range(0, size, 2):
            line = starts.get(off, line)
            out[off] = line
    return out


top = compile(SOURCE, "sample.py", "exec")
result = []
for c in codes(top):
    table = c.co_linetable if sys.version_info >= (3, 10) else c.co_lnotab
    result.append({
        "name": c.co_name,
        "firstlineno": c.co_firstlineno,
        "table": table.hex(),
        "lines": sorted(lines_of(c).items()),
    })
print(json.dumps({"version": sys.version_info[0] * 100 + sys.version_info[1], "codes": result}))
