"""The trusted side's walls around what a kernel leaves behind or sends back, each tested with
an input that gets through when that wall alone is removed: a valid model, a valid link target,
a valid array, a loadable custom layer. (A test fed something that fails for another reason as
well, like a zip bomb with an empty config.json, passes with the wall gone.)"""

from __future__ import annotations

import base64
import io
import json
import os
import zipfile
from pathlib import Path
from types import SimpleNamespace

import keras
import nbformat
import numpy as np
import pytest
from keras.src.saving import object_registration

from cnngrade.sandbox import artifacts, proxy
from cnngrade.sandbox.artifacts import ArtifactError, load_keras_model, read_scratch_file
from cnngrade.sandbox.jupyter import CappedNotebookClient
from cnngrade.sandbox.proxy import MIME, StudentError, StudentProxy
from cnngrade.sandbox.student_kernel import ANSWER_OUTPUT_CAP

MiB = 1024**2


def small_model() -> keras.Model:
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"),
                             keras.layers.Dense(2)])


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory) -> bytes:
    """A real model saved by Keras: 46 parameters, a few kB."""
    path = tmp_path_factory.mktemp("model") / "model.keras"
    small_model().save(path)
    return path.read_bytes()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in files.items():
            out.writestr(name, data)
    return buffer.getvalue()


# -- MAX_UNZIPPED --------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["weights padded", "extra member"])
def test_a_valid_model_that_unpacks_beyond_the_cap_is_refused(model_bytes, monkeypatch, how):
    """config.json and the weights are Keras's own, so the model loads once the size check is
    gone (the HDF5 reader ignores trailing zeros, Keras ignores an unknown member): only
    MAX_UNZIPPED refuses it. The cap is lowered to 1 MiB to keep the bomb cheap."""
    monkeypatch.setattr(artifacts, "MAX_UNZIPPED", MiB)
    files = members(model_bytes)
    assert sum(map(len, files.values())) < MiB
    assert load_keras_model(model_bytes, "the model").count_params() == 46   # under the cap
    if how == "weights padded":
        files["model.weights.h5"] += b"\0" * (2 * MiB)
    else:
        files["assets/padding.bin"] = b"\0" * (2 * MiB)
    bomb = zipped(files)
    assert len(bomb) < 64 * 1024   # highly compressible: small on disk, over the cap unpacked
    with pytest.raises(ArtifactError, match=r"^the model unpacks to more than 1,048,576 bytes\.$"):
        load_keras_model(bomb, "the model")


# -- O_NOFOLLOW ----------------------------------------------------------------------------

@pytest.fixture
def two_students(tmp_path: Path, model_bytes: bytes) -> SimpleNamespace:
    """alice's scratch folder, and bob's with a valid model in it (two places: the top of his
    folder and his drop folder .cnngrade/)."""
    alice, bob = tmp_path / "alice" / "home", tmp_path / "bob" / "home"
    (alice / ".cnngrade").mkdir(parents=True)
    (bob / ".cnngrade").mkdir(parents=True)
    (bob / "convnet.keras").write_bytes(model_bytes)
    (bob / ".cnngrade" / "0123abcd.keras").write_bytes(model_bytes)
    return SimpleNamespace(alice=alice, bob=bob,
                           proxy=StudentProxy(SimpleNamespace(plan=SimpleNamespace(scratch=alice)),
                                              call_timeout=1))


LINK_REFUSED = (r"is a symbolic link or not a plain file; the grader reads only plain files "
                r"the notebook wrote itself\.$")


@pytest.mark.parametrize("target", ["absolute", "relative"])
def test_a_link_to_another_students_valid_model_is_not_followed(two_students, target):
    s = two_students
    assert StudentProxy(SimpleNamespace(plan=SimpleNamespace(scratch=s.bob)), 1) \
        .saved_model("convnet.keras").count_params() == 46   # bob's model would score
    link = s.bob / "convnet.keras" if target == "absolute" else Path("../../bob/home/convnet.keras")
    os.symlink(link, s.alice / "convnet.keras")
    assert (s.alice / "convnet.keras").read_bytes() == (s.bob / "convnet.keras").read_bytes()
    with pytest.raises(ArtifactError, match=r"^'convnet\.keras' " + LINK_REFUSED):
        s.proxy.saved_model("convnet.keras")


def test_a_linked_folder_on_the_way_to_the_model_is_not_followed(two_students):
    """The grader's drop folder replaced by a link to bob's: each component is opened without
    following links, not only the last."""
    s = two_students
    (s.alice / ".cnngrade").rmdir()
    os.symlink(s.bob / ".cnngrade", s.alice / ".cnngrade")
    assert (s.alice / ".cnngrade" / "0123abcd.keras").is_file()
    with pytest.raises(ArtifactError, match=r"^'\.cnngrade/0123abcd\.keras' " + LINK_REFUSED):
        read_scratch_file(s.alice, ".cnngrade/0123abcd.keras")


# -- MAX_ANSWER_BYTES ----------------------------------------------------------------------

def test_an_answer_within_the_output_cap_but_over_the_answer_cap_is_refused():
    """A checker call's output may be up to ANSWER_OUTPUT_CAP (96 MiB); an array answer up to
    MAX_ANSWER_BYTES (64 MiB, 85.3 MiB as base64 text). A valid array of 65 MiB, well within
    any kernel's memory, gets through the output cap of the grader's client: only the answer
    cap refuses it (without it, it is decoded and returned). The 324 MB array of
    tests/adversarial/huge-answer.py is stopped by the output cap, never reaching this one."""
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((proxy.MAX_ANSWER_BYTES + MiB) // 4, np.float32))
    answer = {"ok": {"t": "npy", "v": base64.b64encode(buffer.getvalue()).decode()}}
    client = CappedNotebookClient(nbformat.v4.new_notebook())
    client.reset_execution_trackers()
    client.clear_before_next_output = False   # as at the start of a cell
    client.output_cap = ANSWER_OUTPUT_CAP     # as run_code sets it for a checker call
    outputs: list = []
    client.output(outputs, {"msg_type": "display_data", "header": {"msg_type": "display_data"},
                            "parent_header": {}, "metadata": {},
                            "content": {"data": {MIME: answer}, "metadata": {}}}, None, 0)
    assert [o["output_type"] for o in outputs] == ["display_data"]   # kept, not capped
    kernel = SimpleNamespace(run_code=lambda code, timeout: outputs)
    with pytest.raises(StudentError, match=r"^features: the answer is too large\.$"):
        StudentProxy(kernel, call_timeout=1).value("features")


# -- the model loader's refusals: code the grader's own process would run --------------------

@pytest.fixture
def registered_in_the_grader(monkeypatch):
    """A layer and a function registered with Keras in the trusted process (as a course's own
    code could register helpers), each recording whether it ever ran there."""
    ran: list[str] = []

    class Spy(keras.layers.Dense):
        __module__ = "keras.layers"   # written so by Keras's own save: the module check passes

        def __init__(self, *args, **kwargs):
            ran.append("Spy")
            super().__init__(*args, **kwargs)

    def spy(x):
        ran.append("spy")
        return x

    # the last one as the idiom `keras.saving.get_custom_objects()["name"] = fn` leaves it
    for name, obj in (("student>Spy", Spy), ("course>spy", spy), ("binary_crossentropy", spy)):
        monkeypatch.setitem(object_registration.GLOBAL_CUSTOM_OBJECTS, name, obj)
        monkeypatch.setitem(object_registration.GLOBAL_CUSTOM_NAMES, obj, name)
    return SimpleNamespace(Spy=Spy, ran=ran)


def test_a_custom_class_registered_in_the_grader_is_not_loaded(tmp_path, registered_in_the_grader):
    """Keras looks a registered name up in the loading process's registry before anything
    else, and safe mode does not object to a registered class: a model of a class registered
    on the trusted side (config written by Keras's own save) loads there and runs its code,
    unless the grader refuses the registered name."""
    spy = registered_in_the_grader
    path = tmp_path / "model.keras"
    keras.Sequential([keras.Input((8,)), spy.Spy(4), keras.layers.Dense(2)]).save(path)
    config = json.loads(members(path.read_bytes())["config.json"])
    layer = config["config"]["layers"][1]
    assert (layer["module"], layer["registered_name"]) == ("keras.layers", "student>Spy")
    spy.ran.clear()
    with pytest.raises(ArtifactError, match=r"^the model names code outside Keras \(the custom "
                                            r"class student>Spy\), which the grader does not"):
        load_keras_model(path.read_bytes(), "the model")
    assert spy.ran == []


@pytest.mark.parametrize("reference", ["activation", "loss", "keras loss"])
def test_a_function_registered_in_the_grader_is_not_loaded(model_bytes, registered_in_the_grader,
                                                           reference):
    """A forged config naming a function of the trusted process's registry: as the Dense
    layer's activation, saved by name under a Keras module; as the compiled loss, a plain
    string; as a Keras loss saved by its name, which the registry overrides. Keras looks each
    up in the registry before its own modules (no registered name, no module outside Keras on
    the way), loads the model and calls the function whenever the model runs."""
    files = members(model_bytes)
    config = json.loads(files["config.json"])
    name = "binary_crossentropy" if reference == "keras loss" else "course>spy"
    if reference == "activation":
        config["config"]["layers"][1]["config"]["activation"] = {
            "module": "keras.activations", "class_name": "function", "config": name,
            "registered_name": None}
    elif reference == "loss":
        config["compile_config"] = {"optimizer": "adam", "loss": name}
    else:
        config["compile_config"] = {"optimizer": "adam", "loss": {
            "module": "builtins", "class_name": "function", "config": name,
            "registered_name": "function"}}
    files["config.json"] = json.dumps(config).encode()
    with pytest.raises(ArtifactError, match=rf"^the model names code outside Keras \({name}, a "
                                            r"name registered on the grader's side\), which"):
        load_keras_model(zipped(files), "the model")
    assert registered_in_the_grader.ran == []


def test_a_notebooks_own_custom_layer_is_refused_by_its_registered_name(tmp_path):
    """The custom layer of tests/adversarial/custom-layer.py as its kernel saves it (module
    null, registered name student>Dense). Not registered here, so with the grader's check gone
    Keras refuses it too ("Could not locate class 'Dense'", a TypeError): this asserts the
    grader's own sentence, the one that says what to do."""
    @keras.saving.register_keras_serializable(package="student")
    class Dense(keras.layers.Dense):
        pass
    Dense.__module__ = "__main__"
    path = tmp_path / "model.keras"
    try:
        keras.Sequential([keras.Input((8,)), Dense(4)]).save(path)
    finally:
        object_registration.GLOBAL_CUSTOM_OBJECTS.pop("student>Dense", None)
        object_registration.GLOBAL_CUSTOM_NAMES.pop(Dense, None)
    with pytest.raises(ArtifactError, match=r"^the model names code outside Keras \(the custom "
                                            r"class student>Dense\), which the grader does not"):
        load_keras_model(path.read_bytes(), "the model")
