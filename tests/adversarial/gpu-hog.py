# expect: 3
# assignment: mini-model
# why: an assignment with gpu = true; the notebook grabs all the accelerator memory it can (and 30 GB of host memory) and holds it; it harms only its own kernel, which is pinned to its own GPU and memory limit
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
    hog.append(np.ones(30 * 2**30, dtype=np.uint8))
except MemoryError:
    pass
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
