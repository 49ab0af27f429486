# expect: 2
# why: walks the call stack and the kernel's globals for the expected value; the expected value lives only in the grader's process
# %% add
import sys, gc
def add(a, b):
    frame = sys._getframe(1)
    while frame is not None:
        for key in ("expected", "want", "truth"):
            if key in frame.f_locals:
                return frame.f_locals[key]
        frame = frame.f_back
    for obj in gc.get_objects():
        if isinstance(obj, dict) and "expected" in obj:
            return obj["expected"]
    return a
