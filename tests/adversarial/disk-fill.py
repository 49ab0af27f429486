# expect: 4
# why: tries to fill the disk from the working folder, /tmp and /dev/shm; file size is limited and /tmp is private to the sandbox
# %% square
import os
chunk = b"x" * 2**20
for folder in (".", "/tmp", "/dev/shm"):
    try:
        with open(os.path.join(folder, "fill.bin"), "wb") as handle:
            for _ in range(10 * 1024):
                handle.write(chunk)
    except OSError:
        pass
def square(x):
    return np.asarray(x) ** 2
