"""architectures end to end: the solution scores the maximum, the partial sample what
PARTIAL.md says, the untouched template 0 without grader errors, the broken file one sentence,
and each near miss (a ResNet block without its skip connection; the same architecture
submitted twice) loses exactly the points of the checks it touches, with expected-versus-got
messages. The notebooks train for real (about 50 s each on 2 cores); all are graded in one
call, two at a time."""

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
SLUG = "architectures"
N_TESTS = 13

# The residual blocks without their Add: Conv -> Conv -> ReLU. Only the ResNet structure check
# fails: the table is computed from the models and a plain 6-layer convnet still learns.
NO_SKIP_FAILS = {"test_resnet_structure"}
# `vgg` built with LeNet's layers: the VGG structure check and the check that the three differ.
# The accuracy thresholds are per slot, and LeNet clears the VGG one (0.84 against 0.80).
TWICE_FAILS = {"test_vgg_structure", "test_architectures_differ"}
PARTIAL_FAILS = {"test_comparison_params", "test_comparison_accuracy_and_time",
                 "test_compiled_alike",
                 "test_histories_saved", "test_learning_curves_png", "test_lenet_accuracy",
                 "test_vgg_accuracy", "test_resnet_accuracy"}

LENET_LAYERS = ("Conv2D 5×5 same → MaxPooling2D 2×2 → Conv2D 5×5 valid → MaxPooling2D 2×2 → "
                "Flatten → Dense 120 → Dense 84 → Dense 10")


def results_of(course, student: str) -> dict:
    return conftest.results_of(course, SLUG, student)


def no_skip(course) -> nbformat.NotebookNode:
    sources = solution_sources(course, SLUG)
    add = "    y = layers.Add()([x, y])                                 # the identity shortcut\n"
    assert add in sources["resnet"]
    return filled(course, SLUG, {"resnet": sources["resnet"].replace(add, "")})


def twice(course) -> nbformat.NotebookNode:
    sources = solution_sources(course, SLUG)
    vgg = (sources["lenet"].replace("lenet = ", "vgg = ").replace('name="lenet"', 'name="vgg"')
           .replace("lenet.summary()", "vgg.summary()"))
    assert "lenet" not in vgg
    return filled(course, SLUG, {"vgg": vgg})


# Honest forms, graded end to end: LeNet functional with separate ReLU layers, VGG built with
# .add(), input_shape= and Activation layers, the ResNet with `layers.add` and `ReLU()`, the
# loss and optimizer as objects. Trained as asked: full marks.
FORMS = {
    "lenet": """
        inputs = keras.Input((28, 28, 1))
        x = layers.ReLU()(layers.Conv2D(6, 5, padding="same")(inputs))
        x = layers.MaxPooling2D()(x)
        x = layers.ReLU()(layers.Conv2D(16, 5)(x))
        x = layers.MaxPooling2D()(x)
        x = layers.Flatten()(x)
        x = layers.ReLU()(layers.Dense(120)(x))
        x = layers.ReLU()(layers.Dense(84)(x))
        lenet = keras.Model(inputs, layers.Dense(10, activation="softmax")(x), name="lenet")
        """,
    "vgg": """
        vgg = keras.Sequential(name="vgg")
        vgg.add(layers.Conv2D(16, 3, padding="same", input_shape=(28, 28, 1)))
        vgg.add(layers.Activation("relu"))
        for filters, first in ((16, False), (32, True), (32, False)):
            if first:
                vgg.add(layers.MaxPooling2D(2))
            vgg.add(layers.Conv2D(filters, 3, padding="same"))
            vgg.add(layers.Activation("relu"))
        vgg.add(layers.MaxPooling2D(2))
        vgg.add(layers.Flatten())
        vgg.add(layers.Dense(64, activation="relu"))
        vgg.add(layers.Dense(10, activation="softmax"))
        """,
    "resnet": """
        def block(x):
            shortcut = x
            x = layers.Conv2D(16, 3, padding="same")(x)
            x = layers.ReLU()(x)
            x = layers.Conv2D(16, 3, padding="same")(x)
            return layers.ReLU()(layers.add([shortcut, x]))


        inputs = keras.Input(shape=(28, 28, 1))
        x = layers.MaxPooling2D()(layers.Conv2D(16, 3, padding="same", activation="relu")(inputs))
        x = block(block(x))
        x = layers.Flatten()(layers.MaxPooling2D()(x))
        resnet = keras.Model(inputs, layers.Dense(10, activation="softmax")(x), name="resnet")
        """,
}


def forms(course) -> nbformat.NotebookNode:
    train = solution_sources(course, SLUG)["train"]
    old = ('model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",\n'
           '                  metrics=["accuracy"])')
    assert old in train
    new = ("model.compile(optimizer=keras.optimizers.Adam(),\n"
           "                  loss=keras.losses.SparseCategoricalCrossentropy(),\n"
           "                  metrics=[keras.metrics.SparseCategoricalAccuracy("
           "name=\"accuracy\")])")
    return filled(course, SLUG, {**FORMS, "train": train.replace(old, new)})


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = load_course(tmp_path_factory.mktemp("content"))
    train = solution_sources(course, SLUG)["train"]
    assert 'optimizer="adam"' in train
    rmsprop = filled(course, SLUG, {"train": train.replace('optimizer="adam"',
                                                           'optimizer="rmsprop"')})
    near_misses = {"noskip": no_skip(course), "twice": twice(course), "forms": forms(course),
                   "rmsprop": rmsprop}
    return grade_samples(tmp_path_factory, SLUG, near_misses,
                         samples=("perfect", "partial", "template", "broken"))


def test_solution_scores_the_maximum(graded):
    perfect = results_of(graded, "perfect")
    assert graded.assignment(SLUG).points == 30
    assert_full_marks(perfect, 30)
    assert len(perfect["tests"]) == N_TESTS
    tables = {tab["title"]: tab for t in perfect["tests"]
              for tab in t.get("extra_data", {}).get("tables", [])}
    assert {"lenet", "vgg", "resnet", "lenet accuracy", "vgg accuracy", "resnet accuracy",
            "comparison: parameters"} <= set(tables)
    assert tables["comparison: parameters"]["rows"] == [
        ["lenet", "61,706", 61_706], ["vgg", "117,434", 117_434], ["resnet", "17,290", 17_290]]


def test_honest_forms_score_the_maximum(graded):
    assert_full_marks(results_of(graded, "forms"), 30)


def test_another_optimizer_loses_exactly_the_compile_check(graded):
    out = assert_loses_exactly(results_of(graded, "rmsprop"), {"test_compiled_alike"})
    assert out["test_compiled_alike"].startswith(
        "lenet is compiled with optimizer RMSprop, expected Adam; vgg is compiled with "
        "optimizer RMSprop, expected Adam"), out["test_compiled_alike"]


def test_partial_sample_loses_what_partial_md_says(graded):
    result = results_of(graded, "partial")
    out = assert_loses_exactly(result, PARTIAL_FAILS)
    assert result["score"] == 13
    assert out["test_comparison_params"].startswith("comparison is a NoneType, expected a dict")


def test_template_scores_zero_without_grader_errors(graded):
    template = results_of(graded, "template")
    assert_zero(template, N_TESTS)
    out = {t["name"]: t["output"] for t in template["tests"]}
    assert "`resnet` is a NoneType, not a Keras model" in out["test_resnet_structure"]
    assert out["test_learning_curves_png"].startswith(
        "The notebook did not leave 'learning_curves.png'")


def test_broken_file_is_one_sentence(graded):
    broken = results_of(graded, "broken")
    assert broken["score"] == 0 and broken["tests"] == []
    assert broken["output"].startswith("broken/architectures.ipynb is not valid notebook JSON")


def test_resnet_without_skip_loses_exactly_its_structure_check(graded):
    result = results_of(graded, "noskip")
    out = assert_loses_exactly(result, NO_SKIP_FAILS)
    assert result["score"] == 26
    assert out["test_resnet_structure"] == (
        "resnet is not ResNet-style: it has no Add layer, so no skip connection; expected "
        "residual blocks whose input x is added to the output of their second convolution "
        "(layers.Add()([x, y])) before the ReLU. Got [Conv2D 3×3 same → MaxPooling2D 2×2 → "
        "Conv2D 3×3 same → Conv2D 3×3 same → Conv2D 3×3 same → Conv2D 3×3 same → "
        "MaxPooling2D 2×2 → Flatten → Dense 10]")


def test_same_architecture_twice_loses_exactly_vgg_and_differ(graded):
    result = results_of(graded, "twice")
    out = assert_loses_exactly(result, TWICE_FAILS)
    assert result["score"] == 25
    assert out["test_vgg_structure"] == (
        'vgg is not VGG-style: every convolution should be a 3×3 Conv2D with padding="same"; '
        "conv2d_2 is a Conv2D 5×5 same, conv2d_3 is a Conv2D 5×5 valid; 0 blocks of two or "
        f"more stacked convolutions ending in 2×2 MaxPooling2D, expected at least 2. Got "
        f"[{LENET_LAYERS}]")
    assert out["test_architectures_differ"] == (
        f"vgg has the same architecture as lenet ([{LENET_LAYERS}]). Expected three different "
        "designs: LeNet-style, VGG-style and ResNet-style")
