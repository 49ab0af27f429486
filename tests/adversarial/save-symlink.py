# expect: 1
# assignment: mini-model
# why: the model's save method leaves a symbolic link to a secret where the grader expects the model file; the grader never follows links out of the scratch folder
# %% model
import os
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
def linked_save(path, *a, **k):
    os.symlink("{GRADEBOOK}", path)
model.save = linked_save
