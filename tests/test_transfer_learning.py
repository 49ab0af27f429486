"""transfer-learning end to end: the solution scores the maximum with the lecture's VGG16
figures in its feedback, the untouched template 0 without grader errors, and each near miss
loses exactly the checks its mistake touches, with expected-versus-got messages: the base not
frozen, frozen after compile, a fine-tuning learning rate of 1e-2. The notebooks train for real
(about 30 s each on 2 cores), on the course base that `cnngrade data prepare` pretrained."""

from __future__ import annotations

import conftest
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
SLUG = "transfer-learning"


def results_of(course, student: str) -> dict:
    return conftest.results_of(course, SLUG, student)


def builders_with(course, old: str, new: str):
    sources = solution_sources(course, SLUG)
    changed = sources["builders"].replace(old, new, 1)
    assert changed != sources["builders"], old
    return filled(course, SLUG, {"builders": changed})


FREEZE = "    base.trainable = False\n    return compile_for(add_head(base, num_classes), 1e-3)"
NEAR_MISSES = {
    # case 1 forgets to freeze the base
    "unfrozen": (FREEZE, "    return compile_for(add_head(base, num_classes), 1e-3)"),
    # case 1 freezes the base after compiling
    "compiled-first": (FREEZE, "    model = compile_for(add_head(base, num_classes), 1e-3)\n"
                               "    base.trainable = False\n    return model"),
    # case 2 fine-tunes with a learning rate of 1e-2
    "rate": ("    return compile_for(model, 1e-4)", "    return compile_for(model, 1e-2)"),
    # case 4's new head is trained with a learning rate of 1e-2
    "headrate": ("    return compile_for(add_head(early, num_classes), 1e-3)",
                 "    return compile_for(add_head(early, num_classes), 1e-2)"),
}


# Honest forms, graded end to end: the head built on the base's own graph (as Keras's
# transfer-learning guide does), a nested Sequential head, the base cut with `inputs=`/`outputs=`
# keywords, layers frozen by slicing, features from calling the base. Full marks.
FORMS = {
    "rule": """
        def choose_case(images_per_class, similar):
            small = images_per_class < 1000
            if small and similar:
                return 1
            elif small:
                return 4
            elif not similar:
                return 5
            return 3 if images_per_class >= 10000 else 2
        """,
    "head": """
        def add_head(base, num_classes):
            head = keras.Sequential([
                layers.Flatten(),
                layers.Dense(256, activation="relu"),
                layers.Dense(num_classes,
                             activation="sigmoid" if num_classes == 1 else "softmax"),
            ], name="head")
            return keras.Model(base.inputs, head(base.outputs[0]))
        """,
    "builders": """
        def extract_features(base, images):
            batches = [base(images[i:i + 64], training=False) for i in range(0, len(images), 64)]
            return np.concatenate([keras.ops.convert_to_numpy(b) for b in batches])


        def feature_extraction_model(base, num_classes):
            for layer in base.layers:
                layer.trainable = False
            model = add_head(base, num_classes)
            return compile_for(model, learning_rate=0.001)


        def fine_tune_last_block(model, base, first_trainable):
            names = [layer.name for layer in base.layers]
            cut = names.index(first_trainable)
            for layer in base.layers[:cut]:
                layer.trainable = False
            for layer in base.layers[cut:]:
                layer.trainable = True
            return compile_for(model, learning_rate=1e-4)


        def fine_tune_all(model, base):
            for layer in base.layers:
                layer.trainable = True
            return compile_for(model, learning_rate=1e-5)


        def earlier_layer_model(base, layer_name, num_classes):
            early = keras.Model(inputs=base.inputs, outputs=base.get_layer(layer_name).output)
            for layer in early.layers:
                layer.trainable = False
            return compile_for(add_head(early, num_classes), learning_rate=1e-3)


        def pretrained_init_model(base, num_classes):
            return compile_for(add_head(base, num_classes), learning_rate=1e-3)
        """,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = load_course(tmp_path_factory.mktemp("content"))
    others = {name: builders_with(course, old, new) for name, (old, new) in NEAR_MISSES.items()}
    others["forms"] = filled(course, SLUG, FORMS)
    head = solution_sources(course, SLUG)["head"]
    always_sigmoid = head.replace(
        '    activation = "sigmoid" if num_classes == 1 else "softmax"\n', "").replace(
        "activation=activation", 'activation="sigmoid"')
    assert 'else "softmax"' not in always_sigmoid and 'activation="sigmoid"' in always_sigmoid
    others["sigmoid"] = filled(course, SLUG, {"head": always_sigmoid})
    return grade_samples(tmp_path_factory, SLUG, others)


def test_a_head_always_sigmoid_loses_exactly_the_head_check(graded):
    """Dense(5, sigmoid) trains well enough with the sparse loss, so only the head check
    catches it."""
    out = assert_loses_exactly(results_of(graded, "sigmoid"), {"test_head"})
    assert out["test_head"].startswith(
        "the head for 5 classes is [('Flatten', None, None), ('Dense', 256, 'relu'), ('Dense', "
        "5, 'sigmoid')], expected"), out["test_head"]


def test_a_head_trained_at_1e_2_loses_exactly_its_rate_check(graded):
    out = assert_loses_exactly(results_of(graded, "headrate"), {"test_head_learning_rates"})
    assert out["test_head_learning_rates"] == (
        'earlier_layer_model(VGG16, "block4_pool", 1) is compiled with learning rate 0.01, '
        "expected 1e-3 (compile_for(model, 1e-3))")


def test_honest_forms_score_the_maximum(graded):
    assert_full_marks(results_of(graded, "forms"), graded.assignment(SLUG).points)


def tables_of(result: dict) -> dict:
    return {tab["title"]: tab for t in result["tests"]
            for tab in t.get("extra_data", {}).get("tables", [])}


def test_solution_scores_the_maximum(graded):
    perfect = results_of(graded, "perfect")
    assert graded.assignment(SLUG).points == 30
    assert_full_marks(perfect, 30)
    tables = tables_of(perfect)
    assert tables["VGG16 with a frozen base (case 1)"]["rows"] == [
        ["yours", 16_812_353, 2_097_665, 14_714_688],
        ["expected", 16_812_353, 2_097_665, 14_714_688]]
    for case in ("case1_classifier", "case2_model", "case3_model", "case4_model",
                 "case5_model"):
        assert tables[f"{case} accuracy"]["rows"][0][1] >= 0.85


def test_template_scores_zero_without_grader_errors(graded):
    template = results_of(graded, "template")
    assert_zero(template, 16)
    out = {t["name"]: t["output"] for t in template["tests"]}
    assert "`choose_case` is not implemented yet" in out["test_decision_rule"]
    assert "`case2_model` is a NoneType, not a Keras model" in out["test_case2_accuracy"]


def test_base_not_frozen_shows_the_trainable_count(graded):
    out = assert_loses_exactly(results_of(graded, "unfrozen"), {"test_case1_frozen_base"})
    assert "16,812,353 trainable parameters, expected 2,097,665" in \
        out["test_case1_frozen_base"]
    assert "set base.trainable = False" in out["test_case1_frozen_base"]


def test_frozen_after_compile(graded):
    out = assert_loses_exactly(results_of(graded, "compiled-first"),
                               {"test_frozen_before_compile"})
    assert out["test_frozen_before_compile"].startswith(
        "feature_extraction_model(VGG16, 1) compiled with 16,812,353 trainable parameters but "
        "returns a model with 2,097,665: change trainable before compile_for, not after")


def test_fine_tuning_rate_of_1e_2(graded):
    out = assert_loses_exactly(results_of(graded, "rate"), {"test_fine_tuning_learning_rates"})
    assert out["test_fine_tuning_learning_rates"] == (
        'fine_tune_last_block(feature_extraction_model(VGG16, 1), VGG16, "block5_conv1") is '
        "compiled with learning rate 0.01, expected at most 0.0001 (case 2); case2_model is "
        "compiled with learning rate 0.01, expected at most 0.0001 (case 2)")


def test_report_shows_the_vgg16_figures(graded):
    """`cnngrade report SLUG --student perfect` prints the lecture's VGG16 counts."""
    from rich.console import Console

    from cnngrade.cli import render
    from cnngrade.views.report import class_report
    console = Console(record=True, width=160)
    render.report(console, class_report(graded, SLUG, "perfect"), "perfect")
    text = console.export_text()
    assert all(n in text for n in ("14,714,688", "16,812,353", "2,097,665"))
