"""Reading untrusted notebooks and restoring locked cells."""

from __future__ import annotations

import json

import nbformat
import pytest
from conftest import filled, template_of

from cnngrade.course.errors import SubmissionError
from cnngrade.intake.notebook import grade_id, parse_notebook, restore_cells


@pytest.mark.parametrize("data, fragment", [
    (b'{"cells": [', "is not valid notebook JSON (line 1"),
    (b"\xff\xfe\x00garbage", "is not a text file"),
    (b"[1, 2, 3]", "is JSON but not a Jupyter notebook"),
    (json.dumps({"nbformat": 5, "cells": []}).encode(), "format version 5"),
    (json.dumps({"nbformat": 2, "cells": []}).encode(), "format version 2"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                 "cells": [{"cell_type": "weird", "source": ""}]}).encode(),
     "cell 1 has an unknown cell type"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                 "cells": [{"cell_type": "code", "source": 42}]}).encode(),
     "cell 1 has a source that is not text"),
])
def test_bad_notebooks_get_one_sentence(data, fragment):
    with pytest.raises(SubmissionError) as info:
        parse_notebook(data, "ada/hw.ipynb")
    message = str(info.value)
    assert message.startswith("ada/hw.ipynb") and fragment in message
    assert "\n" not in message


def test_a_good_notebook_reads(mini_course):
    nb = parse_notebook(nbformat.writes(filled(mini_course, "mini")).encode(), "x.ipynb")
    assert [grade_id(c) for c in nb.cells] == ["intro", "setup", "add", "square", "answer"]


def test_restore_keeps_answers_and_student_cells(mini_course):
    template = template_of(mini_course, "mini")
    nb = filled(mini_course, "mini")
    nb.cells.insert(3, nbformat.v4.new_code_cell("helper = 1"))
    restored = restore_cells(nb, template)
    assert restored.problems == []
    sources = [c.source for c in restored.notebook.cells]
    assert "helper = 1" in sources
    assert any("return np.asarray(a) + np.asarray(b)" in s for s in sources)


def test_restore_reports_edits_deletions_and_duplicates(mini_course):
    template = template_of(mini_course, "mini")
    nb = filled(mini_course, "mini")
    nb.cells[0].source = "# I rewrote the instructions"
    nb.cells[1].metadata["nbgrader"]["locked"] = False   # unlocking does not help
    nb.cells[1].source = "import numpy as np\nnp.allclose = lambda *a: True"
    del nb.cells[4]                                       # the 'answer' cell
    nb.cells.append(nbformat.from_dict(json.loads(json.dumps(nb.cells[2]))))
    restored = restore_cells(nb, template)
    text = " ".join(restored.problems)
    assert "locked cell 'intro' was edited" in text
    assert "locked cell 'setup' was edited" in text
    assert "answer cell 'answer' was deleted" in text
    assert "'add' appears more than once" in text
    cells = restored.notebook.cells
    assert [grade_id(c) for c in cells] == ["intro", "setup", "add", "square", "answer"]
    assert cells[1].source == template.cells[1].source
    assert cells[4].source == template.cells[4].source
