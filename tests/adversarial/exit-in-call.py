# expect: 3
# why: square kills its kernel with os._exit when the grader calls it; that check fails and the kernel is rebuilt for the others
# %% square
import os
def square(x):
    os._exit(1)
