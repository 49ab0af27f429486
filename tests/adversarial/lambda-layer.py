# expect: 1
# assignment: mini-model
# why: a Lambda layer carries Python code in the saved model; the grader loads with safe_mode and refuses it with a clear message
# %% model
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"),
                          keras.layers.Lambda(lambda x: x * 0 + 1), keras.layers.Dense(2)])
