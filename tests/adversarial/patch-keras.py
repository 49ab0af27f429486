# expect: 1
# assignment: mini-model
# why: a wrong model, with count_params, summary and the layer classes patched in the kernel to look right; the grader counts in its own Keras
# %% model
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])
keras.Model.count_params = lambda self: 46
keras.layers.Dense.count_params = lambda self: 23
model.count_params = lambda: 46
