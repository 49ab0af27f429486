# expect: 3
# why: an infinite loop in the square cell; the per-cell time limit stops it and the cell is skipped
# %% square
while True:
    pass
