# expect: 3
# why: sends SIGKILL to itself in the square cell
# %% square
import os, signal
os.kill(os.getpid(), signal.SIGKILL)
def square(x): return x**2
