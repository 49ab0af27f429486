# expect: 3
# assignment: mini-model
# why: prints one 2 GB line, a single enormous message to the grader; the output beyond the cap is dropped, the grader's memory stays bounded, and the honest scale defined after it counts
# %% scale
print("x" * (2 * 2**30))
def scale(x):
    return np.asarray(x, dtype="float32") / 255.0
