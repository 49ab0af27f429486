# expect: 1
# why: answers with objects whose __eq__ is always True; answers cross as plain data, so an object that is not numbers is refused
# %% add
class Any:
    def __eq__(self, o): return True
    def __array__(self, *a, **k): raise TypeError("no")
def add(a, b):
    return Any()
# %% answer
class Any(int):
    def __eq__(self, o): return True
answer = Any(7)
