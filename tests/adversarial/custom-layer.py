# expect: 1
# assignment: mini-model
# why: a registered custom layer class; its code is not in the grader's process, so the model cannot load there and the check fails with a clear message
# %% model
@keras.saving.register_keras_serializable(package="student")
class Dense(keras.layers.Layer):
    def __init__(self, units, **kw):
        super().__init__(**kw)
        self.units = units
    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1], self.units))
        self.b = self.add_weight(shape=(self.units,))
    def call(self, x):
        import os
        os.system("touch {HOST_TMP}-custom-layer")
        return x @ self.w + self.b
    def get_config(self):
        return {**super().get_config(), "units": self.units}
model = keras.Sequential([keras.Input((8,)), Dense(4), Dense(2)])
