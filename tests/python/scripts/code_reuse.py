# Code objects freed and created again, likely at the same addresses: each
# generated file allocates at its own line; a stale description would give
# a wrong file:line.
kept = []
for k in range(300):
    line = k % 7 + 1
    src = "\n" * (line - 1) + "kept.append(['gen%d-%%d' %% i for i in range(%d)])\n" % (k, 10 + k)
    code = compile(src, "gen%03d.py" % k, "exec")
    exec(code, {"kept": kept})
    del code
print("generated", len(kept))
