# expect: 1
# assignment: mini-model
# why: replaces the grader's drop folder .cnngrade with a link to / before the grader asks for the model; the grader opens each path component without following links
# %% model
import os, shutil
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
shutil.rmtree(".cnngrade", ignore_errors=True)
os.symlink("/", ".cnngrade")
