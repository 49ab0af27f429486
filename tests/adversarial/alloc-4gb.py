# expect: 3
# why: allocates and writes 4 GiB (mini's limit is 1 GiB; the grading machine has the 4 GiB); the address-space limit alone refuses it, so the square cell fails
# %% square
import numpy as np
big = np.ones(4 * 2**30, dtype=np.uint8)   # every page written: real memory, not a reservation
def square(x): return x**2
