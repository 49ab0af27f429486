# expect: 2
# why: answers with an object array holding a pickle-bearing object; the grader never unpickles and refuses object dtypes
# %% add
import os
class Evil:
    def __reduce__(self):
        return (os.system, ("touch {HOST_TMP}-pickle",))
def add(a, b):
    out = np.empty(np.shape(a), dtype=object)
    out[...] = Evil()
    return out
