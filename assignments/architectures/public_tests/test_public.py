"""Public tests for architectures: run them with `cnngrade check architectures.ipynb`.

They check that the three models exist with the right inputs and outputs, that the comparison
table has its rows and the files are saved. The grader checks much more: each architecture's
defining structure, that the three differ, your table against the models, and the accuracy of
each trained model on the test images.
"""

import pytest

NETWORKS = ("lenet", "vgg", "resnet")


@pytest.mark.points(1)
def test_three_models(student):
    """lenet, vgg and resnet take (28, 28, 1) images and give 10 outputs."""
    for name in NETWORKS:
        model = student.keras_model(name)
        assert tuple(model.inputs[0].shape[1:]) == (28, 28, 1), \
            f"{name} takes inputs of shape {tuple(model.inputs[0].shape[1:])}, not (28, 28, 1)"
        assert tuple(model.outputs[0].shape[1:]) == (10,), \
            f"{name} gives outputs of shape {tuple(model.outputs[0].shape[1:])}, not (10,)"


@pytest.mark.points(1)
def test_comparison_rows(student):
    """comparison has a row for each network with params, train_time and test_accuracy."""
    table = student.value("comparison")
    assert isinstance(table, dict), f"comparison is a {type(table).__name__}, not a dict"
    for name in NETWORKS:
        row = table.get(name)
        assert isinstance(row, dict), f"comparison has no row (a dict) for '{name}'"
        missing = [k for k in ("params", "train_time", "test_accuracy") if k not in row]
        assert not missing, f"comparison['{name}'] has no {', '.join(missing)}"
        count = student.keras_model(name).count_params()
        assert row["params"] == count, \
            f"comparison['{name}']['params'] is {row['params']!r}; {name} has {count:,}"


@pytest.mark.points(1)
def test_files_saved(student):
    """histories.json holds the three histories and learning_curves.png is a PNG image."""
    histories = student.json_file("histories.json")
    assert isinstance(histories, dict) and all(
        isinstance(histories.get(n), dict) and "val_accuracy" in histories[n]
        for n in NETWORKS), \
        "histories.json should hold {'lenet': history.history, 'vgg': ..., 'resnet': ...}"
    data = student.scratch_file("learning_curves.png", cap=20 * 1024**2)
    assert data.startswith(b"\x89PNG"), "learning_curves.png is not a PNG image"
