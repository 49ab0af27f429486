# expect: 1
# why: swaps the whole numpy module in sys.modules for a fake; the grader keeps its own numpy, so only the student's own answers break (the kernel reads the grader's array arguments with the fake, so square fails too)
# %% add
import sys, types
fake = types.ModuleType("numpy")
fake.allclose = lambda *a, **k: True
fake.asarray = lambda v, *a, **k: v
def add(a, b):
    return a
sys.modules["numpy"] = fake
