# expect: 3
# why: writes 10 GB straight to file descriptors 1 and 2, around IPython; the cell's time limit stops it, the kernel's log stops at the file-size limit, and the restarted kernel grades the rest
# %% square
import os
chunk = b"x" * 2**20
written = 0
for fd in (1, 2):
    try:
        for _ in range(10 * 1024):
            written += os.write(fd, chunk)
    except OSError:
        pass
def square(x):
    return np.asarray(x) ** 2
