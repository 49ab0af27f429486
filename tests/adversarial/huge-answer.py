# expect: 2
# why: answers with hundreds of megabytes; the answer is capped and refused, the grader's memory is safe
# %% add
def add(a, b):
    return np.zeros((9000, 9000), dtype=np.float32)
