# expect: 4
# why: forks until the system refuses, every child sleeping forever; the process limit stops it, the children die with the sandbox, and the grading goes on
# %% square
import os, time
children = 0
try:
    while children < 10000:
        pid = os.fork()
        if pid == 0:
            time.sleep(10**6)
            os._exit(0)
        children += 1
except OSError:
    pass
def square(x):
    return np.asarray(x) ** 2
