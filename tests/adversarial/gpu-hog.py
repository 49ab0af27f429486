# expect: 3
# assignment: mini-model
# why: an assignment with gpu = true; the notebook grabs all the accelerator memory it can and 9 GiB of host memory (over mini-model's 8 GiB limit, within the grading machine's) and holds them; it harms only its own kernel, pinned to its own GPU share and memory limit: a granted 9 GiB costs the model cell
# %% model
import numpy as np
hog = []
try:
    import tensorflow as tf
    for gpu in tf.config.list_physical_devices("GPU"):
        with tf.device(gpu.name.replace("physical_device:", "")):
            while True:
                hog.append(tf.zeros((256, 1024, 1024)))   # 1 GiB each, until refused
except BaseException:
    pass
try:
    hog.append(np.ones(9 * 2**30, dtype=np.uint8))   # every page written
except MemoryError:
    pass
else:
    raise SystemExit("9 GiB of host memory granted, over the 8 GiB limit")
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
