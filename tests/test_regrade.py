"""Regrading after a change to the hidden suite: the kernel's recorded answers are replayed
(same seed, no notebook executed) when the new suite asks only what the old one asked, and the
submission is executed again when it asks anything new; either way the grade is the one a full
run gives."""

from __future__ import annotations

import json

import pytest
from conftest import filled, submit

from cnngrade.grading.grade import REPLAY_FILE, grade
from cnngrade.intake.collect import collect

pytestmark = pytest.mark.slow


def _result(course, student: str) -> dict:
    return json.loads((course.course_dir / "results" / "mini" / student / "results.json")
                      .read_text())


@pytest.fixture
def graded(mini_course, tmp_path):
    inbox = tmp_path / "inbox"
    submit(inbox, "honest", filled(mini_course, "mini"))
    # square wrong (it sleeps, as a slow cell would): a replay must not execute it again
    submit(inbox, "partial", filled(mini_course, "mini", {
        "square": "import time\ntime.sleep(3)\ndef square(x): return x"}))
    collect(mini_course, "mini", inbox)
    first = grade(mini_course, "mini", workers=2)
    assert len(first.graded) == 2
    return mini_course


def _edit_suite(course, old: str, new: str) -> None:
    suite = course.suites_dir / "mini" / "test_mini.py"
    text = suite.read_text()
    assert old in text
    suite.write_text(text.replace(old, new))


def test_changed_message_is_replayed_without_executing(graded):
    before = {s: _result(graded, s) for s in ("honest", "partial")}
    assert all((graded.course_dir / "results" / "mini" / s / REPLAY_FILE).is_file()
               for s in before)
    _edit_suite(graded, 'assert np.allclose(got, x ** 2), "wrong values"',
                'assert np.allclose(got, x ** 2), "square(x) is not x ** 2"')
    summary = grade(graded, "mini", workers=2)
    assert {o.student for o in summary.graded} == {"honest", "partial"}
    after = {s: _result(graded, s) for s in before}
    for student in before:
        assert after[student]["extra_data"]["replayed"] is True
        assert after[student]["score"] == before[student]["score"]
        assert after[student]["extra_data"]["seed"] == before[student]["extra_data"]["seed"]
    partial = {t["name"]: t for t in after["partial"]["tests"]}
    assert partial["test_square"]["output"] == "square(x) is not x ** 2"
    assert after["partial"]["score"] == 3
    # no notebook ran: an executed one leaves its kernel's clock and slowest cells, which a
    # replay has not (how long the replay took says nothing on a busy machine)
    for student in before:
        assert "slowest_cells" in before[student]["extra_data"]
        assert not {"clock", "slowest_cells"} & set(after[student]["extra_data"])
    # and a full grade agrees
    grade(graded, "mini", workers=2, force=True)
    full = _result(graded, "partial")
    assert full["extra_data"]["replayed"] is False
    assert [(t["name"], t["status"], t["output"]) for t in full["tests"]] == \
        [(t["name"], t["status"], t["output"]) for t in after["partial"]["tests"]]


def test_a_new_question_executes_the_notebook_again(graded):
    _edit_suite(graded, 'assert student.value("answer") == 42',
                'assert student.value("answer") == 42\n'
                '    assert student.square(np.array([3.0])).tolist() == [9.0], "square(3) is 9"')
    summary = grade(graded, "mini", workers=2)
    assert {o.student for o in summary.graded} == {"honest", "partial"}
    for student in ("honest", "partial"):
        assert _result(graded, student)["extra_data"]["replayed"] is False
    assert _result(graded, "honest")["score"] == 4
    partial = {t["name"]: t for t in _result(graded, "partial")["tests"]}
    assert partial["test_answer"]["output"] == "square(3) is 9"
    assert _result(graded, "partial")["score"] == 2


def test_a_resubmission_is_never_replayed(graded, tmp_path):
    inbox = tmp_path / "again"
    submit(inbox, "honest", filled(graded, "mini", {"answer": "answer = 41"}))
    collect(graded, "mini", inbox)
    _edit_suite(graded, '"""the answer is 42"""', '"""the answer is forty-two"""')
    grade(graded, "mini", workers=2)
    result = _result(graded, "honest")
    assert result["extra_data"]["replayed"] is False and result["score"] == 3
    assert _result(graded, "partial")["extra_data"]["replayed"] is True
