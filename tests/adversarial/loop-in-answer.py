# expect: 2
# why: add returns an object whose __array__ never returns, so turning the answer into data loops; the call's time limit fails that check only
# %% add
class Forever:
    def __array__(self, *a, **k):
        while True:
            pass
def add(a, b):
    return Forever()
