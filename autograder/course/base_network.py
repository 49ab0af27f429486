"""The course's pretrained base network and the small target task of the transfer-learning
assignment, made offline and reproducibly by `cnngrade data prepare`.

Where Keras's cache holds VGG16's ImageNet weights, the assignment's VGG16 cells load them; the
training cases, which must run in minutes on a CPU, always use this base:

- source task: Fashion-MNIST's five clothing classes 0-4 (T-shirt, trouser, pullover, dress,
  coat), all 30,000 training images, 3 epochs, seed 0;
- the base: a small VGG-style network named like VGG16's layers (`block1_conv1` ...
  `block3_pool`), 240,256 parameters, output (3, 3, 128) for a 28x28x1 image; only the base is
  kept, not the source task's classifier;
- target task: the other five classes 5-9 (sandal, shirt, sneaker, bag, ankle boot) with little
  labelled data, TARGET_PER_CLASS training images per class; the target test split (those
  classes' images in the held-back half of Fashion-MNIST's test file, which the sandbox's copy
  does not hold: 2,530 images) is hidden.

Pretraining runs in its own process
(`python -m cnngrade.course.base_network FASHION_DIR OUT_DIR`), so its thread settings and
memory stay out of the grader's process.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from .dataset_readers import held_back_start, read_fashion

SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
TARGET_NAMES = ("sandal", "shirt", "sneaker", "bag", "ankle_boot")
TARGET_PER_CLASS = 20
EPOCHS = 3
BATCH_SIZE = 64
SEED = 0
BASE_FILE = "base.keras"
TRAIN_FILE = "target_train.npz"
TEST_FILE = "target_test.npz"
LAST_BLOCK = "block3_conv1"     # the course base's last block starts here (VGG16: block5_conv1)
BASE_PARAMS = 240_256
BASE_OUTPUT = (3, 3, 128)


def build_base():
    """The base network, untrained: three VGG-style blocks of 3x3 convolutions."""
    import keras
    from keras import layers
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu", name="block1_conv1"),
        layers.MaxPooling2D(2, name="block1_pool"),
        layers.Conv2D(64, 3, padding="same", activation="relu", name="block2_conv1"),
        layers.MaxPooling2D(2, name="block2_pool"),
        layers.Conv2D(128, 3, padding="same", activation="relu", name="block3_conv1"),
        layers.Conv2D(128, 3, padding="same", activation="relu", name="block3_conv2"),
        layers.MaxPooling2D(2, name="block3_pool"),
    ], name="course_base")


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 N x 28 x 28 -> float32 N x 28 x 28 x 1 in [0, 1], as the notebook feeds them."""
    return images.reshape(-1, 28, 28, 1).astype("float32") / 255.0


def target_split(fashion: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The target task's `train` (TARGET_PER_CLASS per class, the first of each class in
    Fashion-MNIST's training file) or `test` split (the target classes' images in the
    held-back half of the test file, which no graded run can have trained on): (uint8 images,
    labels 0-4)."""
    images, labels = read_fashion(fashion, "train" if split == "train" else "t10k")
    if split == "train":
        chosen = [np.flatnonzero(labels == c)[:TARGET_PER_CLASS] for c in TARGET_CLASSES]
        short = [c for c, idx in zip(TARGET_CLASSES, chosen, strict=True)
                 if len(idx) < TARGET_PER_CLASS]
        if short:
            raise ValueError(f"Fashion-MNIST in {fashion} has fewer than {TARGET_PER_CLASS} "
                             f"training images of class(es) {short}")
        index = np.concatenate(chosen)
    else:
        start = held_back_start(len(labels))
        index = start + np.flatnonzero(np.isin(labels[start:], TARGET_CLASSES))
    return images[index].copy(), (labels[index] - TARGET_CLASSES[0]).astype(np.uint8)


def weights_digest(model) -> str:
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def pretrain(fashion: Path, source_images: int | None = None, epochs: int = EPOCHS,
             report=None):
    """Train the base (with a throw-away classifier on top) on the source task; returns it."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(SEED)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()
    images, labels = read_fashion(fashion, "train")
    index = np.flatnonzero(np.isin(labels, SOURCE_CLASSES))[:source_images]
    if len(index) < 10:
        raise ValueError(f"Fashion-MNIST in {fashion} has no training images of classes "
                         f"{SOURCE_CLASSES}")
    base = build_base()
    model = keras.Sequential([base, layers.Flatten(), layers.Dense(128, activation="relu"),
                              layers.Dense(len(SOURCE_CLASSES), activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    steps = -(-len(index) // BATCH_SIZE) * epochs

    class Progress(keras.callbacks.Callback):
        done = 0

        def on_train_batch_end(self, batch, logs=None):
            Progress.done += 1
            if report and (Progress.done % 20 == 0 or Progress.done == steps):
                report(Progress.done, steps)

    model.fit(scale(images[index]), labels[index], epochs=epochs, batch_size=BATCH_SIZE,
              shuffle=True, verbose=0, callbacks=[Progress()])
    return base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fashion", type=Path)
    parser.add_argument("out", type=Path, help="where base.keras is written")
    parser.add_argument("--source-images", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    def report(done: int, total: int) -> None:
        print(f"cnngrade-progress {done} {total}", flush=True)

    try:
        base = pretrain(args.fashion, args.source_images, args.epochs, report)
    except ValueError as exc:
        print(f"cnngrade-error {exc}", flush=True)
        return 2
    base.save(args.out / BASE_FILE)
    print(f"cnngrade-digest {weights_digest(base)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
