# Recursion, for MEMWATCH_PYTHON_DEPTH.
def down(n):
    if n == 0:
        return ["deep %d" % i for i in range(20000)]  # LINE:deep
    return down(n - 1)


kept = down(12)
print(len(kept))
