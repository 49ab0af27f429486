"""Honest, independently styled student submissions of the four training assignments, to
calibrate the time limits on honest variety and not only on the reference solution.

Each style is what a student taught from Chollet's "Deep Learning with Python" (the course's
book, first or second edition) would write: correct and complete (it earns full marks), with the
same architectures, parameter counts, variable names, saved files, epochs, batch sizes and
training data as the template fixes, but with the honest overhead of the book's habits:
progress bars (`verbose=1`, Keras's default), data generators, Python loops over batches,
an extra evaluation of what was just trained, and plots of the training curves. None of them
trains for more epochs or on more images than asked; they are slower, never bigger.

Styles (STYLES[slug][name]):

keras-convnet
  generator-verbose    First edition: `Sequential()` built with `.add()`, one-hot labels,
                       `verbose=1` and a test-set `evaluate` after the small convnet's epoch;
                       the binary convnet fed by `ImageDataGenerator(rescale=1./255)` and
                       `flow_from_directory` (the template's alternative) with
                       `steps_per_epoch`/`validation_steps` written out, one batch printed
                       first, the learning curves plotted; the activation model from
                       `layers[:8]` with each output's shape printed.
  functional-tfkeras   Second edition: `from tensorflow import keras`, keyword arguments
                       (`filters=`, `kernel_size=3`), integer labels with the sparse loss and
                       the test set as `validation_data` (evaluated once more after the
                       epoch); the binary convnet with the functional API, fed by
                       `image_dataset_from_directory` at Keras's default verbosity, one
                       batch printed, curves plotted; the activation model from the
                       Conv2D/MaxPooling2D layers picked with `isinstance` (the book's code).

augmentation
  generator-steps-verbose  First edition: the generators on `os.path.join` paths, one batch
                       printed; the preprocessing layers shown on nine augmented copies of a
                       training image (that call builds them); the model built with
                       `.add()`, trained with explicit `steps_per_epoch`/`validation_steps`
                       and `verbose=1`, then the book's two figures of accuracy and loss.
  functional-tfkeras   Second edition: `tensorflow.keras` imports, size and batch constants,
                       the layers' model started with `keras.Input`, augmented copies of a
                       validation image plotted; the model with the functional API (a loop
                       over the four conv blocks), `steps_per_epoch=len(...)`, Keras's
                       default progress bars, an extra `evaluate` on the validation generator
                       and a two-panel plot.

transfer-learning
  loop-predict-verbose  First edition: `extract_features` predicts batch by batch in a Python
                       slicing loop into a preallocated array (each `predict` with its own
                       progress bar); the head a `Sequential` with the base as first layer;
                       the book's `set_trainable` loop for fine-tuning; every fit with
                       `verbose=1` and its history kept, the training curves plotted.
  generator-functional  `extract_features` as the book's loop over
                       `ImageDataGenerator().flow(images, shuffle=False)` with a `break`; the
                       rule as a lookup table; a functional head; fine-tuning by the index of
                       `first_trainable`; a `train(...)` helper that times each fit with
                       `time.time()` at `verbose=1`; each model evaluated on its training data
                       afterwards and all curves plotted.

architectures
  verbose-unrolled     LeNet and VGG built with `.add()`, the residual block with
                       `layers.add` and `layers.ReLU()`; the three trainings written out one
                       after the other with `time.time()`, `verbose=1` and `evaluate` at its
                       default batch size and verbosity; a figure per network before the saved
                       comparison figure.
  functional-timing    All three with the functional API (a `conv_block` helper for VGG);
                       each trained in a loop with an `EpochTimer` callback and `verbose=1`,
                       timed with `time.time()`; the per-epoch times printed; the curves in a
                       2×2 figure saved at 150 dpi and a bar chart of the comparison.

The answer cells a style does not name keep the solution's source. Each style checks that
every cell it writes differs from the solution's and that the solution still has what the
template fixes (epochs, file names, names), so that a change of the solution cannot silently
turn a style into the reference or make it train something else.

    .venv/bin/python scripts/honest_styles.py --slug keras-convnet --style all --out DIR

writes DIR/<style>/keras-convnet.ipynb per style: an inbox for `cnngrade collect` with the style
names as the students.
"""

from __future__ import annotations

import argparse
import copy
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent

Style = Callable[[dict[str, str]], dict[str, str]]


# ----------------------------------------------------------------------------------- helpers
def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _cell(sources: dict[str, str], gid: str, new: str, keeps: tuple[str, ...] = (),
          solution_has: tuple[str, ...] = ()) -> str:
    """`new` (dedented) as the source of answer cell `gid`. It must differ from the solution's
    cell; each string in `keeps` (what the template fixes: a name, the epochs, a file name)
    must be in the solution's cell and in the new one, and each in `solution_has` in the
    solution's cell (what the style writes in another form, e.g. the epochs as an argument of
    its own helper)."""
    assert gid in sources, f"the solution has no answer cell {gid!r}; revisit this style"
    text = textwrap.dedent(new).strip("\n")
    assert _normal(text) != _normal(sources[gid]), \
        f"{gid}: the style's cell is the solution's own"
    for keep in (*keeps, *solution_has):
        assert keep in sources[gid], \
            f"{gid}: the solution's cell no longer has {keep!r}; revisit this style"
    for keep in keeps:
        assert keep in text, f"{gid}: the style's cell lacks {keep!r}"
    return text


def _replace(text: str, old: str, new: str, count: int = 1) -> str:
    """`text` with `old` replaced by `new` (`count` times, -1 for all); it must change."""
    changed = text.replace(old, new, count)
    assert changed != text, f"{old!r} is not in the cell any more; revisit this style"
    return changed


# ============================================================================= keras-convnet
def _convnet_generator_verbose(s: dict[str, str]) -> dict[str, str]:
    return {
        "convnet": _cell(s, "convnet", '''
            convnet = None  # build the model here

            from keras import models

            convnet = models.Sequential()
            convnet.add(keras.Input(shape=(28, 28, 1)))
            convnet.add(layers.Conv2D(32, (3, 3), activation="relu"))
            convnet.add(layers.MaxPooling2D((2, 2)))
            convnet.add(layers.Conv2D(64, (3, 3), activation="relu"))
            convnet.add(layers.MaxPooling2D((2, 2)))
            convnet.add(layers.Conv2D(64, (3, 3), activation="relu"))
            convnet.add(layers.Flatten())
            convnet.add(layers.Dense(64, activation="relu"))
            convnet.add(layers.Dense(10, activation="softmax"))
            convnet.summary()
            ''', keeps=("convnet.summary()",)),
        "train": _cell(s, "train", '''
            history = None

            x_train = train_images.reshape((len(train_images), 28, 28, 1))
            x_train = x_train.astype("float32") / 255
            x_test = test_images.reshape((len(test_images), 28, 28, 1))
            x_test = x_test.astype("float32") / 255
            y_train = keras.utils.to_categorical(train_labels)
            y_test = keras.utils.to_categorical(test_labels)

            convnet.compile(optimizer="rmsprop",
                            loss="categorical_crossentropy",
                            metrics=["accuracy"])
            history = convnet.fit(x_train, y_train, epochs=1, batch_size=64, verbose=1)

            test_loss, test_acc = convnet.evaluate(x_test, y_test, verbose=1)
            print("test accuracy:", test_acc)

            convnet.save("convnet.keras")
            with open("convnet_history.json", "w") as f:
                json.dump(history.history, f)
            ''', keeps=("epochs=1", "batch_size=64", '"convnet.keras"',
                        '"convnet_history.json"')),
        "binary-model": _cell(s, "binary-model", '''
            binary_convnet = None

            binary_convnet = models.Sequential()
            binary_convnet.add(keras.Input(shape=(150, 150, 3)))
            binary_convnet.add(layers.Conv2D(32, (3, 3), activation="relu"))
            binary_convnet.add(layers.MaxPooling2D((2, 2)))
            binary_convnet.add(layers.Conv2D(64, (3, 3), activation="relu"))
            binary_convnet.add(layers.MaxPooling2D((2, 2)))
            binary_convnet.add(layers.Conv2D(128, (3, 3), activation="relu"))
            binary_convnet.add(layers.MaxPooling2D((2, 2)))
            binary_convnet.add(layers.Conv2D(128, (3, 3), activation="relu"))
            binary_convnet.add(layers.MaxPooling2D((2, 2)))
            binary_convnet.add(layers.Flatten())
            binary_convnet.add(layers.Dense(512, activation="relu"))
            binary_convnet.add(layers.Dense(1, activation="sigmoid"))
            binary_convnet.summary()
            ''', keeps=("binary_convnet.summary()",)),
        "binary-train": _cell(s, "binary-train", '''
            binary_history = None

            import matplotlib.pyplot as plt
            from tensorflow.keras.preprocessing.image import ImageDataGenerator

            # All images will be rescaled by 1./255
            train_datagen = ImageDataGenerator(rescale=1./255)
            validation_datagen = ImageDataGenerator(rescale=1./255)

            train_generator = train_datagen.flow_from_directory(
                    TWO_CLASS_DIR / "train",
                    target_size=(150, 150),
                    batch_size=20,
                    class_mode="binary")
            validation_generator = validation_datagen.flow_from_directory(
                    TWO_CLASS_DIR / "validation",
                    target_size=(150, 150),
                    batch_size=20,
                    class_mode="binary")

            for data_batch, labels_batch in train_generator:
                print("data batch shape:", data_batch.shape)
                print("labels batch shape:", labels_batch.shape)
                break

            binary_convnet.compile(loss="binary_crossentropy",
                                   optimizer=keras.optimizers.RMSprop(learning_rate=1e-4),
                                   metrics=["accuracy"])
            # every image once per epoch: 2,000 training images in batches of 20, 1,000 for
            # validation
            binary_history = binary_convnet.fit(
                  train_generator,
                  steps_per_epoch=train_generator.samples // 20,
                  epochs=3,
                  validation_data=validation_generator,
                  validation_steps=validation_generator.samples // 20,
                  verbose=1)

            binary_convnet.save("binary_convnet.keras")
            with open("binary_history.json", "w") as f:
                json.dump(binary_history.history, f)

            acc = binary_history.history["accuracy"]
            val_acc = binary_history.history["val_accuracy"]
            loss = binary_history.history["loss"]
            val_loss = binary_history.history["val_loss"]
            epochs = range(1, len(acc) + 1)

            plt.plot(epochs, acc, "bo", label="Training acc")
            plt.plot(epochs, val_acc, "b", label="Validation acc")
            plt.title("Training and validation accuracy")
            plt.legend()
            plt.figure()
            plt.plot(epochs, loss, "bo", label="Training loss")
            plt.plot(epochs, val_loss, "b", label="Validation loss")
            plt.title("Training and validation loss")
            plt.legend()
            plt.show()
            ''', keeps=("epochs=3", "learning_rate=1e-4", '"binary_convnet.keras"',
                        '"binary_history.json"')),
        "activation": _cell(s, "activation", '''
            activation_model = None

            # Extracts the outputs of the top 8 layers
            layer_outputs = [layer.output for layer in binary_convnet.layers[:8]]
            # Creates a model that will return these outputs, given the model input
            activation_model = models.Model(inputs=binary_convnet.inputs, outputs=layer_outputs)
            for layer, output in zip(binary_convnet.layers[:8], activation_model.outputs):
                print(layer.name, output.shape)
            '''),
    }


def _convnet_functional_tfkeras(s: dict[str, str]) -> dict[str, str]:
    return {
        "convnet": _cell(s, "convnet", '''
            convnet = None  # build the model here

            from tensorflow import keras
            from tensorflow.keras import layers

            convnet = keras.Sequential(
                [
                    keras.Input(shape=(28, 28, 1)),
                    layers.Conv2D(filters=32, kernel_size=3, activation="relu"),
                    layers.MaxPooling2D(pool_size=2),
                    layers.Conv2D(filters=64, kernel_size=3, activation="relu"),
                    layers.MaxPooling2D(pool_size=2),
                    layers.Conv2D(filters=64, kernel_size=3, activation="relu"),
                    layers.Flatten(),
                    layers.Dense(64, activation="relu"),
                    layers.Dense(10, activation="softmax"),
                ],
                name="small_convnet",
            )
            convnet.summary()
            ''', keeps=("convnet.summary()",)),
        "train": _cell(s, "train", '''
            history = None

            x_train = np.expand_dims(train_images, axis=-1).astype("float32") / 255.0
            x_test = np.expand_dims(test_images, axis=-1).astype("float32") / 255.0
            print(x_train.shape, x_test.shape)

            convnet.compile(optimizer="rmsprop",
                            loss="sparse_categorical_crossentropy",
                            metrics=["accuracy"])
            history = convnet.fit(x_train, train_labels, epochs=1, batch_size=64,
                                  validation_data=(x_test, test_labels), verbose=1)
            convnet.save("convnet.keras")
            with open("convnet_history.json", "w") as f:
                json.dump(history.history, f)

            test_loss, test_acc = convnet.evaluate(x_test, test_labels)
            print(f"Test accuracy: {test_acc:.3f}")
            ''', keeps=("epochs=1", "batch_size=64", '"convnet.keras"',
                        '"convnet_history.json"')),
        "binary-model": _cell(s, "binary-model", '''
            binary_convnet = None

            inputs = keras.Input(shape=(150, 150, 3))
            x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
            x = layers.MaxPooling2D(pool_size=2)(x)
            x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
            x = layers.MaxPooling2D(pool_size=2)(x)
            x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
            x = layers.MaxPooling2D(pool_size=2)(x)
            x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
            x = layers.MaxPooling2D(pool_size=2)(x)
            x = layers.Flatten()(x)
            x = layers.Dense(512, activation="relu")(x)
            outputs = layers.Dense(1, activation="sigmoid")(x)
            binary_convnet = keras.Model(inputs=inputs, outputs=outputs)
            binary_convnet.summary()
            ''', keeps=("binary_convnet.summary()",)),
        "binary-train": _cell(s, "binary-train", '''
            binary_history = None

            import matplotlib.pyplot as plt
            from tensorflow.keras.utils import image_dataset_from_directory

            train_dataset = image_dataset_from_directory(
                TWO_CLASS_DIR / "train", image_size=(150, 150), batch_size=20,
                label_mode="binary")
            validation_dataset = image_dataset_from_directory(
                TWO_CLASS_DIR / "validation", image_size=(150, 150), batch_size=20,
                label_mode="binary")


            def rescale(images, labels):
                return images / 255.0, labels


            train_dataset = train_dataset.map(rescale)
            validation_dataset = validation_dataset.map(rescale)

            for data_batch, labels_batch in train_dataset:
                print("data batch shape:", data_batch.shape)
                print("labels batch shape:", labels_batch.shape)
                break

            binary_convnet.compile(loss="binary_crossentropy",
                                   optimizer=keras.optimizers.RMSprop(learning_rate=1e-4),
                                   metrics=["accuracy"])
            binary_history = binary_convnet.fit(train_dataset, epochs=3,
                                                validation_data=validation_dataset)
            binary_convnet.save("binary_convnet.keras")
            with open("binary_history.json", "w") as f:
                json.dump(binary_history.history, f)

            accuracy = binary_history.history["accuracy"]
            val_accuracy = binary_history.history["val_accuracy"]
            loss = binary_history.history["loss"]
            val_loss = binary_history.history["val_loss"]
            epochs = range(1, len(accuracy) + 1)
            plt.plot(epochs, accuracy, "bo", label="Training accuracy")
            plt.plot(epochs, val_accuracy, "b", label="Validation accuracy")
            plt.title("Training and validation accuracy")
            plt.legend()
            plt.figure()
            plt.plot(epochs, loss, "bo", label="Training loss")
            plt.plot(epochs, val_loss, "b", label="Validation loss")
            plt.title("Training and validation loss")
            plt.legend()
            plt.show()
            ''', keeps=("epochs=3", "learning_rate=1e-4", '"binary_convnet.keras"',
                        '"binary_history.json"')),
        "activation": _cell(s, "activation", '''
            activation_model = None

            layer_outputs = []
            layer_names = []
            for layer in binary_convnet.layers:
                if isinstance(layer, (layers.Conv2D, layers.MaxPooling2D)):
                    layer_outputs.append(layer.output)
                    layer_names.append(layer.name)
            activation_model = keras.Model(inputs=binary_convnet.input, outputs=layer_outputs)
            print(len(layer_outputs), "outputs:", layer_names)
            '''),
    }


# ============================================================================== augmentation
def _augmentation_generator_steps_verbose(s: dict[str, str]) -> dict[str, str]:
    return {
        "datagen": _cell(s, "datagen", '''
            train_datagen = None
            test_datagen = None
            train_generator = None
            validation_generator = None

            train_dir = os.path.join(TWO_CLASS_DIR, "train")
            validation_dir = os.path.join(TWO_CLASS_DIR, "validation")

            train_datagen = ImageDataGenerator(
                rescale=1./255,
                rotation_range=40,
                width_shift_range=0.2,
                height_shift_range=0.2,
                shear_range=0.2,
                zoom_range=0.2,
                horizontal_flip=True,
                fill_mode="nearest")

            # Note that the validation data should not be augmented!
            test_datagen = ImageDataGenerator(rescale=1./255)

            train_generator = train_datagen.flow_from_directory(
                    # This is the target directory
                    train_dir,
                    # All images will be resized to 150x150
                    target_size=(150, 150),
                    batch_size=32,
                    # Since we use binary_crossentropy loss, we need binary labels
                    class_mode="binary")

            validation_generator = test_datagen.flow_from_directory(
                    validation_dir,
                    target_size=(150, 150),
                    batch_size=32,
                    class_mode="binary")

            for data_batch, labels_batch in train_generator:
                print("data batch shape:", data_batch.shape)
                print("labels batch shape:", labels_batch.shape)
                break
            ''', keeps=("rotation_range=40", "batch_size=32")),
        "augmentation-layers": _cell(s, "augmentation-layers", '''
            data_augmentation = None

            import matplotlib.pyplot as plt

            data_augmentation = keras.Sequential(
                [
                    layers.RandomFlip("horizontal"),
                    layers.RandomRotation(0.1),
                    layers.RandomZoom(0.2),
                ]
            )

            # nine augmented versions of one training image (this also builds the layers)
            image_path = next((TWO_CLASS_DIR / "train").glob("*/*.jpg"))
            image = keras.utils.img_to_array(keras.utils.load_img(image_path,
                                                                  target_size=(150, 150)))
            plt.figure(figsize=(10, 10))
            for i in range(9):
                augmented_images = data_augmentation(image[None], training=True)
                ax = plt.subplot(3, 3, i + 1)
                plt.imshow(np.asarray(augmented_images[0]).astype("uint8"))
                plt.axis("off")
            plt.show()
            ''', keeps=("RandomRotation(0.1)", "RandomZoom(0.2)")),
        "model": _cell(s, "model", '''
            model = None
            history = None

            import math

            import matplotlib.pyplot as plt
            from keras import models, optimizers

            model = models.Sequential()
            model.add(keras.Input(shape=(150, 150, 3)))
            model.add(layers.Conv2D(32, (3, 3), activation="relu"))
            model.add(layers.MaxPooling2D((2, 2)))
            model.add(layers.Conv2D(64, (3, 3), activation="relu"))
            model.add(layers.MaxPooling2D((2, 2)))
            model.add(layers.Conv2D(128, (3, 3), activation="relu"))
            model.add(layers.MaxPooling2D((2, 2)))
            model.add(layers.Conv2D(128, (3, 3), activation="relu"))
            model.add(layers.MaxPooling2D((2, 2)))
            model.add(layers.Flatten())
            model.add(layers.Dropout(0.5))
            model.add(layers.Dense(512, activation="relu"))
            model.add(layers.Dense(1, activation="sigmoid"))
            model.summary()

            model.compile(loss="binary_crossentropy",
                          optimizer=optimizers.RMSprop(learning_rate=1e-4),
                          metrics=["accuracy"])

            # each epoch sees every training image once, and validates on all 1,000
            history = model.fit(
                  train_generator,
                  steps_per_epoch=math.ceil(train_generator.samples / 32),
                  epochs=5,
                  validation_data=validation_generator,
                  validation_steps=math.ceil(validation_generator.samples / 32),
                  verbose=1)

            model.save("augmented_convnet.keras")
            with open("augmented_history.json", "w") as f:
                json.dump(history.history, f)

            acc = history.history["accuracy"]
            val_acc = history.history["val_accuracy"]
            loss = history.history["loss"]
            val_loss = history.history["val_loss"]
            epochs = range(1, len(acc) + 1)

            plt.plot(epochs, acc, "bo", label="Training acc")
            plt.plot(epochs, val_acc, "b", label="Validation acc")
            plt.title("Training and validation accuracy")
            plt.legend()
            plt.figure()
            plt.plot(epochs, loss, "bo", label="Training loss")
            plt.plot(epochs, val_loss, "b", label="Validation loss")
            plt.title("Training and validation loss")
            plt.legend()
            plt.show()
            ''', keeps=("Dropout(0.5)", "epochs=5", "learning_rate=1e-4",
                        '"augmented_convnet.keras"', '"augmented_history.json"')),
    }


def _augmentation_functional_tfkeras(s: dict[str, str]) -> dict[str, str]:
    return {
        "datagen": _cell(s, "datagen", '''
            train_datagen = None
            test_datagen = None
            train_generator = None
            validation_generator = None

            from tensorflow import keras
            from tensorflow.keras import layers
            from tensorflow.keras.preprocessing.image import ImageDataGenerator

            IMAGE_SIZE = (150, 150)
            BATCH_SIZE = 32

            train_datagen = ImageDataGenerator(rescale=1 / 255.0,
                                               rotation_range=40,
                                               width_shift_range=0.2,
                                               height_shift_range=0.2,
                                               shear_range=0.2,
                                               zoom_range=0.2,
                                               horizontal_flip=True,
                                               fill_mode="nearest")
            test_datagen = ImageDataGenerator(rescale=1 / 255.0)   # no augmentation here

            train_generator = train_datagen.flow_from_directory(
                str(TWO_CLASS_DIR / "train"), target_size=IMAGE_SIZE, batch_size=BATCH_SIZE,
                class_mode="binary", shuffle=True, seed=0)
            validation_generator = test_datagen.flow_from_directory(
                str(TWO_CLASS_DIR / "validation"), target_size=IMAGE_SIZE,
                batch_size=BATCH_SIZE, class_mode="binary", shuffle=False)
            print("classes:", train_generator.class_indices)
            ''', keeps=("rotation_range=40",)),
        "augmentation-layers": _cell(s, "augmentation-layers", '''
            data_augmentation = None

            import matplotlib.pyplot as plt

            data_augmentation = keras.Sequential([
                keras.Input(shape=(150, 150, 3)),
                layers.RandomFlip("horizontal"),
                layers.RandomRotation(0.1),
                layers.RandomZoom(0.2),
            ], name="data_augmentation")

            images, _ = validation_generator[0]   # one batch of (not augmented) images
            plt.figure(figsize=(10, 10))
            for i in range(9):
                augmented = data_augmentation(images[:1], training=True)
                plt.subplot(3, 3, i + 1)
                plt.imshow(np.clip(np.asarray(augmented[0]), 0, 1))
                plt.axis("off")
            plt.show()
            ''', keeps=("RandomRotation(0.1)", "RandomZoom(0.2)")),
        "model": _cell(s, "model", '''
            model = None
            history = None

            import matplotlib.pyplot as plt

            inputs = keras.Input(shape=(150, 150, 3))
            x = inputs
            for filters in (32, 64, 128, 128):
                x = layers.Conv2D(filters, 3, activation="relu")(x)
                x = layers.MaxPooling2D(2)(x)
            x = layers.Flatten()(x)
            x = layers.Dropout(0.5)(x)
            x = layers.Dense(512, activation="relu")(x)
            outputs = layers.Dense(1, activation="sigmoid")(x)
            model = keras.Model(inputs=inputs, outputs=outputs, name="augmented_convnet")
            model.summary()

            model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-4),
                          loss="binary_crossentropy", metrics=["accuracy"])
            history = model.fit(train_generator,
                                steps_per_epoch=len(train_generator),
                                epochs=5,
                                validation_data=validation_generator,
                                validation_steps=len(validation_generator))
            model.save("augmented_convnet.keras")
            with open("augmented_history.json", "w") as f:
                json.dump(history.history, f)

            val_loss, val_acc = model.evaluate(validation_generator)
            print(f"validation accuracy after training: {val_acc:.3f}")

            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
            epochs = range(1, len(history.history["loss"]) + 1)
            ax1.plot(epochs, history.history["accuracy"], "bo-", label="training")
            ax1.plot(epochs, history.history["val_accuracy"], "rs-", label="validation")
            ax1.set_xlabel("epoch")
            ax1.set_ylabel("accuracy")
            ax1.legend()
            ax2.plot(epochs, history.history["loss"], "bo-", label="training")
            ax2.plot(epochs, history.history["val_loss"], "rs-", label="validation")
            ax2.set_xlabel("epoch")
            ax2.set_ylabel("loss")
            ax2.legend()
            plt.show()
            ''', keeps=("Dropout(0.5)", "epochs=5", "learning_rate=1e-4",
                        '"augmented_convnet.keras"', '"augmented_history.json"')),
        "questions": _cell(s, "questions", '''
            q1 = None
            q2 = None
            q3 = None
            q4 = None

            q1 = "b"   # dropout 0.9 throws away most features: both accuracies stay low
            q2 = "a"   # we want the accuracy on real, unaltered images
            q3 = "c"   # augmentation layers are inactive at inference
            q4 = "b"   # it fights overfitting when there are few images
            '''),
    }


# ========================================================================= transfer-learning
TRANSFER_SIGNATURES = (
    "def extract_features(base, images):",
    "def feature_extraction_model(base, num_classes):",
    "def fine_tune_last_block(model, base, first_trainable):",
    "def fine_tune_all(model, base):",
    "def earlier_layer_model(base, layer_name, num_classes):",
    "def pretrained_init_model(base, num_classes):",
)


# the builders cells, long enough to be kept at the margin
_BUILDERS_LOOP = '''
def extract_features(base, images):
    """Case 1: the base's output for `images`, as a NumPy array."""
    batch_size = 32
    features = np.zeros((len(images),) + tuple(base.output_shape[1:]),
                        dtype="float32")
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        features[start:start + len(batch)] = base.predict(batch)
    return features


def feature_extraction_model(base, num_classes):
    """Case 1: the whole base frozen, a new head, compiled (learning rate 1e-3)."""
    base.trainable = False
    model = add_head(base, num_classes)
    compile_for(model, 1e-3)
    return model


def fine_tune_last_block(model, base, first_trainable):
    """Case 2: base layers from `first_trainable` on trainable, earlier ones frozen,
    recompiled with a small learning rate (at most 1e-4)."""
    base.trainable = True
    set_trainable = False
    for layer in base.layers:
        if layer.name == first_trainable:
            set_trainable = True
        if set_trainable:
            layer.trainable = True
        else:
            layer.trainable = False
    compile_for(model, 1e-4)
    return model


def fine_tune_all(model, base):
    """Case 3: the whole base trainable, recompiled with a very low learning rate
    (at most 1e-5)."""
    base.trainable = True
    for layer in base.layers:
        layer.trainable = True
    compile_for(model, 1e-5)
    return model


def earlier_layer_model(base, layer_name, num_classes):
    """Case 4: the base up to `layer_name`, frozen, with a new head (learning rate 1e-3)."""
    truncated = keras.Model(inputs=base.inputs,
                            outputs=base.get_layer(layer_name).output,
                            name=base.name + "_up_to_" + layer_name)
    truncated.trainable = False
    model = add_head(truncated, num_classes)
    compile_for(model, 1e-3)
    return model


def pretrained_init_model(base, num_classes):
    """Case 5: the whole base trainable from its pretrained weights, a new head
    (learning rate 1e-3)."""
    base.trainable = True
    for layer in base.layers:
        layer.trainable = True
    model = add_head(base, num_classes)
    compile_for(model, 1e-3)
    return model
'''


_BUILDERS_GENERATOR = '''
def extract_features(base, images):
    """Case 1: the base's output for `images`, as a NumPy array."""
    from tensorflow.keras.preprocessing.image import ImageDataGenerator
    batch_size = 32
    sample_count = len(images)
    features = np.zeros(shape=(sample_count, *base.output_shape[1:]),
                        dtype="float32")
    generator = ImageDataGenerator().flow(images, batch_size=batch_size,
                                          shuffle=False)
    i = 0
    for inputs_batch in generator:
        features_batch = base.predict(inputs_batch, verbose=0)
        features[i * batch_size:(i + 1) * batch_size] = features_batch
        i += 1
        if i * batch_size >= sample_count:
            # generators loop forever, so we break after every image was seen once
            break
    return features


def feature_extraction_model(base, num_classes):
    """Case 1: the whole base frozen, a new head, compiled (learning rate 1e-3)."""
    for layer in base.layers:
        layer.trainable = False
    base.trainable = False
    model = add_head(base, num_classes)
    return compile_for(model, learning_rate=1e-3)


def fine_tune_last_block(model, base, first_trainable):
    """Case 2: base layers from `first_trainable` on trainable, earlier ones frozen,
    recompiled with a small learning rate (at most 1e-4)."""
    base.trainable = True
    names = [layer.name for layer in base.layers]
    start = names.index(first_trainable)
    for layer in base.layers[:start]:
        layer.trainable = False
    for layer in base.layers[start:]:
        layer.trainable = True
    return compile_for(model, learning_rate=1e-4)


def fine_tune_all(model, base):
    """Case 3: the whole base trainable, recompiled with a very low learning rate
    (at most 1e-5)."""
    base.trainable = True
    for layer in base.layers:
        layer.trainable = True
    return compile_for(model, learning_rate=1e-5)


def earlier_layer_model(base, layer_name, num_classes):
    """Case 4: the base up to `layer_name`, frozen, with a new head (learning rate 1e-3)."""
    cut = keras.Model(inputs=base.inputs, outputs=base.get_layer(layer_name).output,
                      name="base_until_" + layer_name)
    for layer in cut.layers:
        layer.trainable = False
    cut.trainable = False
    return compile_for(add_head(cut, num_classes), learning_rate=1e-3)


def pretrained_init_model(base, num_classes):
    """Case 5: the whole base trainable from its pretrained weights, a new head
    (learning rate 1e-3)."""
    base.trainable = True
    for layer in base.layers:
        layer.trainable = True
    return compile_for(add_head(base, num_classes), learning_rate=1e-3)
'''


def _transfer_loop_predict_verbose(s: dict[str, str]) -> dict[str, str]:
    return {
        "head": _cell(s, "head", '''
            def add_head(base, num_classes):
                """base -> Flatten -> Dense(256, relu) -> Dense(num_classes, sigmoid or softmax)."""
                model = keras.Sequential()
                model.add(base)
                model.add(layers.Flatten())
                model.add(layers.Dense(256, activation="relu"))
                if num_classes == 1:
                    model.add(layers.Dense(1, activation="sigmoid"))
                else:
                    model.add(layers.Dense(num_classes, activation="softmax"))
                return model
            ''', keeps=("def add_head(base, num_classes):",)),
        "builders": _cell(s, "builders", _BUILDERS_LOOP, keeps=TRANSFER_SIGNATURES),
        "case1": _cell(s, "case1", '''
            case1_classifier = None

            features_train = extract_features(load_base(), x_train)
            print("features of the training images:", features_train.shape)
            np.save("features_train.npy", features_train)
            features = np.load("features_train.npy")

            case1_classifier = keras.Sequential()
            case1_classifier.add(keras.Input(shape=features.shape[1:]))
            case1_classifier.add(layers.Flatten())
            case1_classifier.add(layers.Dense(256, activation="relu"))
            case1_classifier.add(layers.Dense(NUM_CLASSES, activation="softmax"))
            compile_for(case1_classifier, 1e-3)
            case1_history = case1_classifier.fit(features, y_train, epochs=30, batch_size=32,
                                                 verbose=1)
            print("case 1, final training accuracy:", case1_history.history["accuracy"][-1])
            ''', keeps=('"features_train.npy"', "epochs=30", "batch_size=32")),
        "case23": _cell(s, "case23", '''
            case2_model = None
            case3_model = None

            # case 2: train the new head on the frozen base, then fine-tune the last block
            base = load_base()
            case2_model = feature_extraction_model(base, NUM_CLASSES)
            case2_head_history = case2_model.fit(x_train, y_train, epochs=15, batch_size=32,
                                                 verbose=1)
            fine_tune_last_block(case2_model, base, "block3_conv1")
            case2_history = case2_model.fit(x_train, y_train, epochs=15, batch_size=32,
                                            verbose=1)

            # case 3: the same, then fine-tune everything
            base = load_base()
            case3_model = feature_extraction_model(base, NUM_CLASSES)
            case3_head_history = case3_model.fit(x_train, y_train, epochs=15, batch_size=32,
                                                 verbose=1)
            fine_tune_all(case3_model, base)
            case3_history = case3_model.fit(x_train, y_train, epochs=15, batch_size=32,
                                            verbose=1)
            ''', keeps=('"block3_conv1"', "epochs=15", "batch_size=32")),
        "case45": _cell(s, "case45", '''
            case4_model = None
            case5_model = None

            import matplotlib.pyplot as plt

            case4_model = earlier_layer_model(load_base(), "block2_pool", NUM_CLASSES)
            case4_history = case4_model.fit(x_train, y_train, epochs=30, batch_size=32,
                                            verbose=1)
            case5_model = pretrained_init_model(load_base(), NUM_CLASSES)
            case5_history = case5_model.fit(x_train, y_train, epochs=30, batch_size=32,
                                            verbose=1)

            curves = {
                "case 1": case1_history.history["accuracy"],
                "case 2": case2_head_history.history["accuracy"]
                          + case2_history.history["accuracy"],
                "case 3": case3_head_history.history["accuracy"]
                          + case3_history.history["accuracy"],
                "case 4": case4_history.history["accuracy"],
                "case 5": case5_history.history["accuracy"],
            }
            for name, acc in curves.items():
                plt.plot(range(1, len(acc) + 1), acc, label=name)
            plt.xlabel("epoch")
            plt.ylabel("training accuracy")
            plt.title("Training accuracy of the five cases")
            plt.legend()
            plt.show()
            ''', keeps=('"block2_pool"', "epochs=30", "batch_size=32")),
    }


def _transfer_generator_functional(s: dict[str, str]) -> dict[str, str]:
    return {
        "rule": _cell(s, "rule", '''
            def choose_case(images_per_class, similar):
                """The transfer-learning case (1-5) for a dataset with `images_per_class` labelled
                images per class, `similar` (True/False) to the base's source task."""
                if images_per_class >= 10000:
                    size = "large"
                elif images_per_class >= 1000:
                    size = "medium"
                else:
                    size = "small"
                table = {
                    ("small", True): 1, ("small", False): 4,
                    ("medium", True): 2, ("medium", False): 5,
                    ("large", True): 3, ("large", False): 5,
                }
                return table[(size, bool(similar))]
            ''', keeps=("def choose_case(images_per_class, similar):",)),
        "head": _cell(s, "head", '''
            def add_head(base, num_classes):
                """base -> Flatten -> Dense(256, relu) -> Dense(num_classes, sigmoid or softmax)."""
                inputs = keras.Input(shape=base.input_shape[1:])
                features = base(inputs)
                x = layers.Flatten()(features)
                x = layers.Dense(256, activation="relu")(x)
                if num_classes == 1:
                    outputs = layers.Dense(1, activation="sigmoid")(x)
                else:
                    outputs = layers.Dense(num_classes, activation="softmax")(x)
                model = keras.Model(inputs=inputs, outputs=outputs)
                return model
            ''', keeps=("def add_head(base, num_classes):",)),
        "builders": _cell(s, "builders", _BUILDERS_GENERATOR, keeps=TRANSFER_SIGNATURES),
        "case1": _cell(s, "case1", '''
            case1_classifier = None

            import time

            histories = {}


            def train(model, inputs, epochs, name):
                """Fit on the 100 target images (or their features), print how long it took,
                keep the history."""
                start = time.time()
                history = model.fit(inputs, y_train, epochs=epochs, batch_size=32, verbose=1)
                print(f"{name}: {epochs} epochs in {time.time() - start:.1f} s, "
                      f"training accuracy {history.history['accuracy'][-1]:.3f}")
                histories.setdefault(name, []).extend(history.history["accuracy"])
                return history


            np.save("features_train.npy", extract_features(load_base(), x_train))
            features = np.load("features_train.npy")
            print("features:", features.shape, features.dtype)
            case1_classifier = keras.Sequential([
                keras.Input(shape=features.shape[1:]),
                layers.Flatten(),
                layers.Dense(256, activation="relu"),
                layers.Dense(NUM_CLASSES, activation="softmax"),
            ])
            compile_for(case1_classifier, 1e-3)
            train(case1_classifier, features, 30, "case 1")
            case1_classifier.evaluate(features, y_train)
            ''', keeps=('"features_train.npy"',), solution_has=("epochs=30", "batch_size=32")),
        "case23": _cell(s, "case23", '''
            case2_model = None
            case3_model = None

            base = load_base()
            case2_model = feature_extraction_model(base, NUM_CLASSES)
            train(case2_model, x_train, 15, "case 2")
            case2_model = fine_tune_last_block(case2_model, base, "block3_conv1")
            train(case2_model, x_train, 15, "case 2")
            case2_model.evaluate(x_train, y_train)

            base = load_base()
            case3_model = feature_extraction_model(base, NUM_CLASSES)
            train(case3_model, x_train, 15, "case 3")
            case3_model = fine_tune_all(case3_model, base)
            train(case3_model, x_train, 15, "case 3")
            case3_model.evaluate(x_train, y_train)
            ''', keeps=('"block3_conv1"',), solution_has=("epochs=15", "batch_size=32")),
        "case45": _cell(s, "case45", '''
            case4_model = None
            case5_model = None

            import matplotlib.pyplot as plt

            case4_model = earlier_layer_model(load_base(), "block2_pool", NUM_CLASSES)
            train(case4_model, x_train, 30, "case 4")
            case4_model.evaluate(x_train, y_train)
            case5_model = pretrained_init_model(load_base(), NUM_CLASSES)
            train(case5_model, x_train, 30, "case 5")
            case5_model.evaluate(x_train, y_train)

            fig, ax = plt.subplots(figsize=(8, 5))
            for name, accuracy in histories.items():
                ax.plot(range(1, len(accuracy) + 1), accuracy, marker=".", label=name)
            ax.set_xlabel("epoch")
            ax.set_ylabel("training accuracy")
            ax.legend()
            plt.show()
            ''', keeps=('"block2_pool"',), solution_has=("epochs=30", "batch_size=32")),
    }


# ============================================================================= architectures
def _architectures_verbose_unrolled(s: dict[str, str]) -> dict[str, str]:
    return {
        "lenet": _cell(s, "lenet", '''
            lenet = None  # build the model here

            lenet = keras.Sequential(name="lenet")
            lenet.add(keras.Input(shape=(28, 28, 1)))
            lenet.add(layers.Conv2D(6, (5, 5), padding="same", activation="relu"))
            lenet.add(layers.MaxPooling2D((2, 2)))
            lenet.add(layers.Conv2D(16, (5, 5), activation="relu"))
            lenet.add(layers.MaxPooling2D((2, 2)))
            lenet.add(layers.Flatten())
            lenet.add(layers.Dense(120, activation="relu"))
            lenet.add(layers.Dense(84, activation="relu"))
            lenet.add(layers.Dense(10, activation="softmax"))
            lenet.summary()
            ''', keeps=("lenet.summary()",)),
        "vgg": _cell(s, "vgg", '''
            vgg = None  # build the model here

            vgg = keras.Sequential(name="vgg")
            vgg.add(keras.Input(shape=(28, 28, 1)))
            # block 1
            vgg.add(layers.Conv2D(16, (3, 3), padding="same", activation="relu"))
            vgg.add(layers.Conv2D(16, (3, 3), padding="same", activation="relu"))
            vgg.add(layers.MaxPooling2D((2, 2)))
            # block 2
            vgg.add(layers.Conv2D(32, (3, 3), padding="same", activation="relu"))
            vgg.add(layers.Conv2D(32, (3, 3), padding="same", activation="relu"))
            vgg.add(layers.MaxPooling2D((2, 2)))
            # classifier
            vgg.add(layers.Flatten())
            vgg.add(layers.Dense(64, activation="relu"))
            vgg.add(layers.Dense(10, activation="softmax"))
            vgg.summary()
            ''', keeps=("vgg.summary()",)),
        "resnet": _cell(s, "resnet", '''
            resnet = None  # build the model here

            def residual_block(x, filters):
                shortcut = x
                x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
                x = layers.Conv2D(filters, 3, padding="same")(x)
                x = layers.add([shortcut, x])
                x = layers.ReLU()(x)
                return x


            inputs = keras.Input(shape=(28, 28, 1))
            x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
            x = layers.MaxPooling2D(2)(x)
            x = residual_block(x, 16)
            x = residual_block(x, 16)
            x = layers.MaxPooling2D(2)(x)
            x = layers.Flatten()(x)
            outputs = layers.Dense(10, activation="softmax")(x)
            resnet = keras.Model(inputs=inputs, outputs=outputs, name="resnet")
            resnet.summary()
            ''', keeps=("resnet.summary()",)),
        "train": _cell(s, "train", '''
            comparison = None
            histories = None

            print("=== LeNet ===")
            lenet.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            start = time.time()
            lenet_history = lenet.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE,
                                      validation_split=VALIDATION_SPLIT, verbose=1)
            lenet_time = time.time() - start
            lenet_loss, lenet_accuracy = lenet.evaluate(x_test, y_test)

            print("=== VGG ===")
            vgg.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                        metrics=["accuracy"])
            start = time.time()
            vgg_history = vgg.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE,
                                  validation_split=VALIDATION_SPLIT, verbose=1)
            vgg_time = time.time() - start
            vgg_loss, vgg_accuracy = vgg.evaluate(x_test, y_test)

            print("=== ResNet ===")
            resnet.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                           metrics=["accuracy"])
            start = time.time()
            resnet_history = resnet.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE,
                                        validation_split=VALIDATION_SPLIT, verbose=1)
            resnet_time = time.time() - start
            resnet_loss, resnet_accuracy = resnet.evaluate(x_test, y_test)

            comparison = {
                "lenet": {"params": lenet.count_params(), "train_time": lenet_time,
                          "test_accuracy": lenet_accuracy},
                "vgg": {"params": vgg.count_params(), "train_time": vgg_time,
                        "test_accuracy": vgg_accuracy},
                "resnet": {"params": resnet.count_params(), "train_time": resnet_time,
                           "test_accuracy": resnet_accuracy},
            }
            histories = {
                "lenet": lenet_history.history,
                "vgg": vgg_history.history,
                "resnet": resnet_history.history,
            }
            with open("histories.json", "w") as f:
                json.dump(histories, f, indent=2)

            print()
            print("network   params   training time   test accuracy")
            for name in comparison:
                row = comparison[name]
                print(name.ljust(8), str(row["params"]).rjust(7),
                      ("%.1f s" % row["train_time"]).rjust(15),
                      ("%.4f" % row["test_accuracy"]).rjust(15))
            ''', keeps=("epochs=EPOCHS", "batch_size=BATCH_SIZE",
                        "validation_split=VALIDATION_SPLIT", '"histories.json"')),
        "plot": _cell(s, "plot", '''
            import matplotlib.pyplot as plt

            # one figure per network first
            for name, history in histories.items():
                epochs = range(1, len(history["accuracy"]) + 1)
                plt.figure(figsize=(5, 3))
                plt.plot(epochs, history["accuracy"], "bo", label="Training acc")
                plt.plot(epochs, history["val_accuracy"], "b", label="Validation acc")
                plt.title(name + ": training and validation accuracy")
                plt.xlabel("Epochs")
                plt.ylabel("Accuracy")
                plt.legend()
                plt.show()

            # then the three together
            fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 4))
            colors = {"lenet": "tab:blue", "vgg": "tab:orange", "resnet": "tab:green"}
            for name, history in histories.items():
                epochs = range(1, len(history["accuracy"]) + 1)
                ax_acc.plot(epochs, history["accuracy"], "--", color=colors[name],
                            label=name + " (training)")
                ax_acc.plot(epochs, history["val_accuracy"], "-o", color=colors[name],
                            label=name + " (validation)")
                ax_loss.plot(epochs, history["loss"], "--", color=colors[name],
                             label=name + " (training)")
                ax_loss.plot(epochs, history["val_loss"], "-o", color=colors[name],
                             label=name + " (validation)")
            ax_acc.set_xlabel("epoch")
            ax_acc.set_ylabel("accuracy")
            ax_acc.legend()
            ax_loss.set_xlabel("epoch")
            ax_loss.set_ylabel("loss")
            ax_loss.legend()
            fig.savefig("learning_curves.png")
            plt.show()
            ''', keeps=("learning_curves.png",)),
    }


def _architectures_functional_timing(s: dict[str, str]) -> dict[str, str]:
    return {
        "lenet": _cell(s, "lenet", '''
            lenet = None  # build the model here

            inputs = keras.Input(shape=(28, 28, 1), name="image")
            x = layers.Conv2D(filters=6, kernel_size=5, padding="same", activation="relu")(inputs)
            x = layers.MaxPooling2D(pool_size=2)(x)
            x = layers.Conv2D(filters=16, kernel_size=5, activation="relu")(x)
            x = layers.MaxPooling2D(pool_size=2)(x)
            x = layers.Flatten()(x)
            x = layers.Dense(120, activation="relu")(x)
            x = layers.Dense(84, activation="relu")(x)
            outputs = layers.Dense(10, activation="softmax")(x)
            lenet = keras.Model(inputs=inputs, outputs=outputs, name="lenet")
            lenet.summary()
            ''', keeps=("lenet.summary()",)),
        "vgg": _cell(s, "vgg", '''
            vgg = None  # build the model here

            def conv_block(x, filters, convolutions=2):
                for _ in range(convolutions):
                    x = layers.Conv2D(filters, kernel_size=3, padding="same",
                                      activation="relu")(x)
                return layers.MaxPooling2D(pool_size=2)(x)


            inputs = keras.Input(shape=(28, 28, 1), name="image")
            x = conv_block(inputs, 16)
            x = conv_block(x, 32)
            x = layers.Flatten()(x)
            x = layers.Dense(64, activation="relu")(x)
            outputs = layers.Dense(10, activation="softmax")(x)
            vgg = keras.Model(inputs=inputs, outputs=outputs, name="vgg")
            vgg.summary()
            ''', keeps=("vgg.summary()",)),
        "resnet": _cell(s, "resnet", '''
            resnet = None  # build the model here

            def residual_block(x, filters=16):
                residual = x
                x = layers.Conv2D(filters, kernel_size=3, padding="same", activation="relu")(x)
                x = layers.Conv2D(filters, kernel_size=3, padding="same")(x)
                x = layers.Add()([x, residual])
                return layers.Activation("relu")(x)


            inputs = keras.Input(shape=(28, 28, 1), name="image")
            x = layers.Conv2D(16, kernel_size=3, padding="same", activation="relu")(inputs)
            x = layers.MaxPooling2D(pool_size=2)(x)
            for _ in range(2):
                x = residual_block(x)
            x = layers.MaxPooling2D(pool_size=2)(x)
            x = layers.Flatten()(x)
            outputs = layers.Dense(10, activation="softmax")(x)
            resnet = keras.Model(inputs=inputs, outputs=outputs, name="resnet")
            resnet.summary()
            ''', keeps=("resnet.summary()",)),
        "train": _cell(s, "train", '''
            comparison = None
            histories = None


            class EpochTimer(keras.callbacks.Callback):
                """Seconds per epoch."""

                def on_train_begin(self, logs=None):
                    self.times = []

                def on_epoch_begin(self, epoch, logs=None):
                    self.started = time.time()

                def on_epoch_end(self, epoch, logs=None):
                    self.times.append(time.time() - self.started)


            networks = {"lenet": lenet, "vgg": vgg, "resnet": resnet}
            comparison, histories, epoch_times = {}, {}, {}
            for name, network in networks.items():
                print(f"Training {name} ({network.count_params():,} parameters)")
                network.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                                metrics=["accuracy"])
                timer = EpochTimer()
                start = time.time()
                history = network.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE,
                                      validation_split=VALIDATION_SPLIT, callbacks=[timer],
                                      verbose=1)
                train_time = time.time() - start
                test_loss, test_accuracy = network.evaluate(x_test, y_test, verbose=1)
                comparison[name] = {
                    "params": network.count_params(),
                    "train_time": train_time,
                    "test_accuracy": test_accuracy,
                }
                histories[name] = history.history
                epoch_times[name] = timer.times

            with open("histories.json", "w") as f:
                json.dump(histories, f)

            print(f"{'network':10}{'params':>10}{'train time (s)':>16}{'test accuracy':>15}")
            for name, row in comparison.items():
                print(f"{name:10}{row['params']:>10,}{row['train_time']:>16.2f}"
                      f"{row['test_accuracy']:>15.4f}")
            for name, times in epoch_times.items():
                print(name, "seconds per epoch:", ", ".join(f"{t:.1f}" for t in times))
            ''', keeps=("epochs=EPOCHS", "batch_size=BATCH_SIZE",
                        "validation_split=VALIDATION_SPLIT", '"histories.json"')),
        "plot": _cell(s, "plot", '''
            import matplotlib.pyplot as plt

            fig, axes = plt.subplots(2, 2, figsize=(12, 8))
            for name, history in histories.items():
                epochs = np.arange(1, len(history["loss"]) + 1)
                axes[0, 0].plot(epochs, history["accuracy"], marker="o", label=name)
                axes[0, 1].plot(epochs, history["val_accuracy"], marker="o", label=name)
                axes[1, 0].plot(epochs, history["loss"], marker="o", label=name)
                axes[1, 1].plot(epochs, history["val_loss"], marker="o", label=name)
            titles = [["training accuracy", "validation accuracy"],
                      ["training loss", "validation loss"]]
            for i in range(2):
                for j in range(2):
                    axes[i, j].set_title(titles[i][j])
                    axes[i, j].set_xlabel("epoch")
                    axes[i, j].legend()
            fig.tight_layout()
            fig.savefig("learning_curves.png", dpi=150)
            plt.show()

            # the comparison as bar charts
            names = list(comparison)
            fig, axes = plt.subplots(1, 3, figsize=(12, 3))
            for axis, key in zip(axes, ("params", "train_time", "test_accuracy")):
                axis.bar(names, [comparison[n][key] for n in names])
                axis.set_title(key)
            fig.tight_layout()
            plt.show()
            ''', keeps=("learning_curves.png",)),
    }


# ====================================================================================== API
STYLES: dict[str, dict[str, Style]] = {
    "keras-convnet": {
        "generator-verbose": _convnet_generator_verbose,
        "functional-tfkeras": _convnet_functional_tfkeras,
    },
    "augmentation": {
        "generator-steps-verbose": _augmentation_generator_steps_verbose,
        "functional-tfkeras": _augmentation_functional_tfkeras,
    },
    "transfer-learning": {
        "loop-predict-verbose": _transfer_loop_predict_verbose,
        "generator-functional": _transfer_generator_functional,
    },
    "architectures": {
        "verbose-unrolled": _architectures_verbose_unrolled,
        "functional-timing": _architectures_functional_timing,
    },
}


def answers(slug: str, style: str, sources: dict[str, str]) -> dict[str, str]:
    """{grade_id: new source} of `style` for `slug`, from the solution's sources
    ({grade_id: the solution's cell without its BEGIN/END SOLUTION lines})."""
    if slug not in STYLES:
        raise KeyError(f"no styles for {slug!r}; known: {', '.join(STYLES)}")
    if style not in STYLES[slug]:
        raise KeyError(f"no style {style!r} for {slug}; known: {', '.join(STYLES[slug])}")
    return STYLES[slug][style](sources)


# ------------------------------------------------------------------------- notebooks from it
def strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines()
                     if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)


def solution_sources(solution_path: Path) -> dict[str, str]:
    """grade_id -> the solution's source of that cell, without the solution markers."""
    from cnngrade.intake.notebook import grade_id
    solution = nbformat.read(solution_path, as_version=4)
    return {gid: strip_markers(c.source) for c in solution.cells if (gid := grade_id(c))}


def filled(solution_path: Path, slug: str, new: dict[str, str]) -> nbformat.NotebookNode:
    """The released template with the answer cells in `new` replaced and every other answer
    cell filled with the solution's source (what tests/conftest.py's `filled` does)."""
    from cnngrade.intake.notebook import grade_id, load_template
    sol = solution_sources(solution_path)
    nb = copy.deepcopy(load_template(solution_path, slug))
    answer_cells = set()
    for cell in nb.cells:
        gid = grade_id(cell)
        if cell.metadata.get("nbgrader", {}).get("solution"):
            answer_cells.add(gid)
            cell.source = textwrap.dedent(new[gid]).strip("\n") if gid in new else sol[gid]
    unknown = set(new) - answer_cells
    assert not unknown, f"{slug}: {sorted(unknown)} are not answer cells of the template"
    return nb


def write_style(slug: str, style: str, out: Path, solutions: Path) -> Path:
    solution_path = solutions / f"{slug}.ipynb"
    nb = filled(solution_path, slug, answers(slug, style, solution_sources(solution_path)))
    path = out / style / f"{slug}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slug", required=True, choices=sorted(STYLES))
    parser.add_argument("--style", required=True,
                        help="a style name of the slug, or 'all' for each of them")
    parser.add_argument("--out", required=True, type=Path,
                        help="writes OUT/<style>/<slug>.ipynb (an inbox for cnngrade collect)")
    parser.add_argument("--solutions", type=Path, default=REPO / "solutions",
                        help="the folder of the reference solutions (default: the repository's)")
    args = parser.parse_args(argv)
    styles = list(STYLES[args.slug]) if args.style == "all" else [args.style]
    for style in styles:
        if style not in STYLES[args.slug]:
            parser.error(f"no style {style!r} for {args.slug}; known: "
                         f"{', '.join(STYLES[args.slug])}")
        print(write_style(args.slug, style, args.out, args.solutions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
