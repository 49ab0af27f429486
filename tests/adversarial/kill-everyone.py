# expect: 3
# why: kill(-1, SIGKILL) and kills its parent: only processes inside its own pid namespace can be reached, so only the kernel dies
# %% square
import os, signal
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError:
    pass
os.kill(-1, signal.SIGKILL)
def square(x): return x**2
