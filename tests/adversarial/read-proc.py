# expect: 4
# why: reaches the host's files through /proc (/proc/self/cwd, /proc/1/root, every /proc/*/root and cwd); the sandbox has its own pid namespace and /proc
# %% add
import os
roots = ["/proc/self/cwd/../..", "/proc/self/root", "/proc/1/root", "/proc/1/cwd"]
for pid in os.listdir("/proc"):
    if pid.isdigit():
        roots += [f"/proc/{pid}/root", f"/proc/{pid}/cwd"]
for root in roots:
    for path in {TARGETS}:
        try:
            open(root + path, "rb").read(1)
        except OSError:
            continue
        raise SystemExit("read " + root + path)
def add(a, b):
    return np.asarray(a) + np.asarray(b)
