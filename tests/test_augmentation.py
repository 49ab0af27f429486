"""augmentation end to end: the solution scores the maximum, the untouched template 0 without
grader errors, and a near miss (validation images augmented, dropout after the Dense layer)
loses exactly the points of those two checks. The notebooks train for real (about 2 minutes
each on 2 cores)."""

from __future__ import annotations

import conftest
import nbformat
import pytest
from conftest import (
    assert_full_marks,
    assert_loses_exactly,
    assert_zero,
    filled,
    grade_samples,
    solution_sources,
)

from cnngrade.course.config import load_course

pytestmark = pytest.mark.slow
SLUG = "augmentation"
NEAR_MISS_FAILS = {"test_evaluation_images_are_not_augmented", "test_dropout_placement"}
# The model is fitted on generators of its own without rescale=1./255 (the ones the other
# checks exercise do rescale): its range check fails. It trains for two batches only, to keep
# the suite short, so its accuracy may fail too; what the mistake alone does to the accuracy is
# in `make bench`'s near-miss table.
UNSCALED_FAILS = {"test_model_inputs_scaled"}


# One mistake for each new check, in one notebook trained for two batches (so its accuracy may
# fail too): the training generator on the validation folder, RandomRotation(0.2),
# AveragePooling2D in the last block (the parameter count cannot tell), Adam for RMSprop.
MISTAKES_FAILS = {"test_training_images_are_augmented", "test_augmentation_layers",
                  "test_model_layers", "test_model_compiled"}
BRIEF = "test_augmented_accuracy"   # what two batches of training reach is not the point


def loses_besides_brief(result: dict, fails: set[str]) -> dict[str, str]:
    """`fails` failed, and perhaps the accuracy of a model trained for two batches; the score
    is the maximum less the points of what failed."""
    failed = {t["name"] for t in result["tests"] if t["status"] != "passed"}
    return assert_loses_exactly(result, fails | (failed & {BRIEF}))


def mistakes(course) -> nbformat.NotebookNode:
    s = solution_sources(course, SLUG)
    datagen = s["datagen"].replace('TWO_CLASS_DIR / "train", target_size',
                                   'TWO_CLASS_DIR / "validation", target_size')
    layers = s["augmentation-layers"].replace("RandomRotation(0.1)", "RandomRotation(0.2)")
    last = ('    layers.Conv2D(128, (3, 3), activation="relu"),\n'
            '    layers.MaxPooling2D((2, 2)),\n    layers.Flatten(),')
    model = (s["model"].replace(last, last.replace("MaxPooling2D", "AveragePooling2D"))
             .replace("optimizer=keras.optimizers.RMSprop(learning_rate=1e-4)",
                      "optimizer=keras.optimizers.Adam(learning_rate=1e-4)")
             .replace("history = model.fit(train_generator, epochs=5,",
                      "history = model.fit(train_generator, epochs=1, steps_per_epoch=2,\n"
                      "                    validation_steps=1,"))
    assert datagen != s["datagen"] and layers != s["augmentation-layers"]
    assert model.count("AveragePooling2D") == 1 and "Adam" in model and "steps_per" in model
    return filled(course, SLUG, {"datagen": datagen, "augmentation-layers": layers,
                                 "model": model})


def unscaled(course) -> nbformat.NotebookNode:
    sources = solution_sources(course, SLUG)
    old = "history = model.fit(train_generator, epochs=5, validation_data=validation_generator,"
    assert old in sources["model"]
    model = sources["model"].replace(old, (
        "raw = ImageDataGenerator(rotation_range=40, width_shift_range=0.2,\n"
        "                         height_shift_range=0.2, shear_range=0.2, zoom_range=0.2,\n"
        "                         horizontal_flip=True)\n"
        "raw_train = raw.flow_from_directory(TWO_CLASS_DIR / \"train\", target_size=(150, 150),\n"
        "                                    batch_size=32, class_mode=\"binary\")\n"
        "raw_validation = ImageDataGenerator().flow_from_directory(\n"
        "    TWO_CLASS_DIR / \"validation\", target_size=(150, 150), batch_size=32,\n"
        "    class_mode=\"binary\")\n"
        "history = model.fit(raw_train, epochs=1, steps_per_epoch=2, validation_steps=1,\n"
        "                    validation_data=raw_validation,"))
    return filled(course, SLUG, {"model": model})


def results_of(course, student: str) -> dict:
    return conftest.results_of(course, SLUG, student)


def near_miss(course) -> nbformat.NotebookNode:
    sources = solution_sources(course, SLUG)
    datagen = sources["datagen"].replace("validation_generator = test_datagen.",
                                         "validation_generator = train_datagen.")
    model = sources["model"].replace(
        '    layers.Dropout(0.5),\n    layers.Dense(512, activation="relu"),\n',
        '    layers.Dense(512, activation="relu"),\n    layers.Dropout(0.5),\n')
    assert datagen != sources["datagen"] and model != sources["model"]
    return filled(course, SLUG, {"datagen": datagen, "model": model})


# Honest forms, graded end to end: `tensorflow.keras` imports, the zoom given as its range,
# `os.path` folders, a functional model with separate Activation layers and loss and optimizer
# objects, and the answers in capitals or with their text. Training is not the point (two
# batches), so only the accuracy check may fail.
FORMS = {
    "datagen": """
        import os
        from tensorflow.keras.preprocessing.image import ImageDataGenerator as Gen

        train_datagen = Gen(rescale=1. / 255, rotation_range=40, width_shift_range=0.2,
                            height_shift_range=0.2, shear_range=0.2, zoom_range=[0.8, 1.2],
                            horizontal_flip=True, fill_mode="nearest")
        test_datagen = Gen(rescale=1. / 255)
        train_generator = train_datagen.flow_from_directory(
            os.path.join(str(TWO_CLASS_DIR), "train"), target_size=(150, 150), batch_size=32,
            class_mode="binary")
        validation_generator = test_datagen.flow_from_directory(
            os.path.join(str(TWO_CLASS_DIR), "validation"), target_size=(150, 150),
            batch_size=32, class_mode="binary")
        """,
    "augmentation-layers": """
        from tensorflow import keras as tfk

        data_augmentation = tfk.Sequential(name="augment")
        data_augmentation.add(tfk.Input(shape=(150, 150, 3)))
        data_augmentation.add(tfk.layers.RandomFlip(mode="horizontal"))
        data_augmentation.add(tfk.layers.RandomRotation(factor=0.1))
        data_augmentation.add(tfk.layers.RandomZoom(height_factor=0.2))
        """,
    "model": """
        inputs = tfk.Input(shape=(150, 150, 3))
        x = inputs
        for filters in (32, 64, 128, 128):
            x = tfk.layers.Conv2D(filters, kernel_size=3)(x)
            x = tfk.layers.Activation("relu")(x)
            x = tfk.layers.MaxPooling2D(pool_size=2)(x)
        x = tfk.layers.Flatten()(x)
        x = tfk.layers.Dropout(rate=0.5)(x)
        x = tfk.layers.Dense(512)(x)
        x = tfk.layers.ReLU()(x)
        outputs = tfk.layers.Dense(1, activation="sigmoid")(x)
        model = tfk.Model(inputs=inputs, outputs=outputs)
        model.compile(optimizer=tfk.optimizers.RMSprop(learning_rate=0.0001),
                      loss=tfk.losses.BinaryCrossentropy(), metrics=["accuracy"])
        history = model.fit(train_generator, steps_per_epoch=2, epochs=1,
                            validation_data=validation_generator, validation_steps=1)
        model.save("augmented_convnet.keras")
        with open("augmented_history.json", "w") as f:
            json.dump(history.history, f)
        """,
    "questions": """
        q1 = "B"
        q2 = "a) their accuracy must estimate how the model does on real images"
        q3 = " C. "
        q4 = "B"
        """,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = load_course(tmp_path_factory.mktemp("content"))
    return grade_samples(tmp_path_factory, SLUG, {"nearmiss": near_miss(course),
                                                  "forms": filled(course, SLUG, FORMS),
                                                  "unscaled": unscaled(course),
                                                  "mistakes": mistakes(course)})


def test_honest_forms_fail_nothing_but_the_accuracy(graded):
    result = results_of(graded, "forms")
    assert not result["extra_data"].get("grader_errors")
    failed = {t["name"]: t["output"] for t in result["tests"] if t["status"] != "passed"}
    assert set(failed) <= {BRIEF}, failed
    assert len(result["tests"]) == 16


def test_a_model_fit_on_unscaled_generators_loses_the_range_check(graded):
    """The generators the checks exercise rescale, but the model is trained on others that do
    not: the range check reads what fit was given."""
    out = loses_besides_brief(results_of(graded, "unscaled"), UNSCALED_FAILS)
    assert out["test_model_inputs_scaled"].startswith(
        "model was trained on pixel values from 0 to 25"), out["test_model_inputs_scaled"]
    assert "a batch the grader drew from your training DirectoryIterator" in \
        out["test_model_inputs_scaled"]


def test_solution_scores_the_maximum(graded):
    perfect = results_of(graded, "perfect")
    assert graded.assignment(SLUG).points == 25
    assert_full_marks(perfect, 25)


def test_template_scores_zero_without_grader_errors(graded):
    template = results_of(graded, "template")
    assert_zero(template, 16)


def test_near_miss_loses_exactly_its_checks(graded):
    result = results_of(graded, "nearmiss")
    out = assert_loses_exactly(result, NEAR_MISS_FAILS)
    assert result["score"] == result["max_score"] - 4
    assert out["test_evaluation_images_are_not_augmented"].startswith(
        "validation_generator changes the images beyond rescaling them")
    assert out["test_dropout_placement"].startswith(
        "Dropout sits between dense (Dense) and dense_1 (Dense); the course puts it between "
        "Flatten and the first Dense layer")


def test_each_new_check_catches_its_mistake(graded):
    out = loses_besides_brief(results_of(graded, "mistakes"), MISTAKES_FAILS)
    assert out["test_training_images_are_augmented"] == (
        "train_generator reads 1000 images; it should read the 2,000 images of "
        "TWO_CLASS_DIR / 'train'")
    assert out["test_augmentation_layers"].startswith(
        "data_augmentation: RandomRotation has factor=(-0.2, 0.2), expected 0.1"), \
        out["test_augmentation_layers"]
    assert "AveragePooling2D" in out["test_model_layers"], out["test_model_layers"]
    assert out["test_model_compiled"] == "model is compiled with optimizer Adam, expected RMSprop"

