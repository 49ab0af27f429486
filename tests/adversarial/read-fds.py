# expect: 4
# why: looks for file descriptors inherited from the grader (an open gradebook, suite or store file) and reads them
# %% add
import os
for fd in range(3, 1024):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    if any(secret in target for secret in ("gradebook", "suites", "store", "hidden", "results")):
        raise SystemExit(f"inherited fd {fd} -> {target}")
def add(a, b):
    return np.asarray(a) + np.asarray(b)
