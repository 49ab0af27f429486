# expect: 2
# why: rebinds builtins (all, abs, isinstance of a few) and AssertionError in the kernel; assertions run in the grader
# %% add
import builtins
builtins.all = lambda *a, **k: True
builtins.abs = lambda x: 0
builtins.AssertionError = type("AssertionError", (Exception,), {})
def add(a, b):
    return a
