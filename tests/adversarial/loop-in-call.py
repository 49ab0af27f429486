# expect: 3
# why: square loops forever when the grader calls it; the call's time limit fails that check only
# %% square
def square(x):
    while True:
        pass
