# expect: 3
# why: allocates 30 GB; the address-space limit refuses it, so the square cell fails
# %% square
big = bytearray(30 * 1024**3)
def square(x): return x**2
