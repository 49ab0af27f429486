# expect: 4
# why: prints 10 GB; what the grader does not take is dropped on the way, it keeps at most its cap per cell, and the honest square defined after the flood counts
# %% square
line = "x" * 10**6
for _ in range(10**4):
    print(line)
def square(x): return x**2
