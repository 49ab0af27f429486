# expect: 3
# why: ends the kernel with os._exit in the square cell; the cell is skipped, the rest is graded
# %% square
import os
os._exit(0)
def square(x): return x**2
