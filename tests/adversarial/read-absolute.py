# expect: 4
# why: reads the hidden suite, the hidden data, the gradebook and another student's notebook by their absolute paths; none is inside the sandbox
# %% add
for path in {TARGETS}:
    try:
        open(path, "rb").read(1)
    except OSError:
        continue
    raise SystemExit("read " + path)
def add(a, b):
    return np.asarray(a) + np.asarray(b)
