# expect: 2
# why: an ndarray subclass whose comparisons are always True and whose __array__ lies; only the bytes of a plain array reach the grader
# %% add
class Liar(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(other), bool)
    def __array_finalize__(self, obj): pass
    def __array__(self, *a, **k): return np.zeros(self.shape)
def add(a, b):
    return np.zeros(np.shape(a)).view(Liar)
