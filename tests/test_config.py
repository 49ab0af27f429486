"""Course and assignment settings."""

from __future__ import annotations

import pytest

from cnngrade.course.config import load_course, parse_size
from cnngrade.course.errors import ConfigError


def test_sizes():
    assert parse_size("2GiB", "x") == 2 * 1024**3
    assert parse_size("512MiB", "x") == 512 * 1024**2
    assert parse_size(1000, "x") == 1000
    with pytest.raises(ConfigError, match="cannot read the size 'lots'"):
        parse_size("lots", "x")


def test_assignment_settings(mini_course):
    asg = mini_course.assignment("mini")
    assert asg.points == 4 and asg.limits.memory == 1024**3 and asg.limits.cell_timeout == 10
    assert asg.public_files == ("public_tests/test_public.py",)


def test_bad_settings_are_one_sentence(mini_course):
    toml = mini_course.assignments_dir / "mini" / "assignment.toml"
    toml.write_text('title = "x"\n')
    with pytest.raises(ConfigError, match="has no 'points' setting"):
        mini_course.assignment("mini")
    toml.write_text('points = "many"\n')
    with pytest.raises(ConfigError, match="wrong type"):
        mini_course.assignment("mini")


def test_repository_content_is_the_default(tmp_path):
    course = load_course(tmp_path / "course")
    assert "conv-by-hand" in course.slugs()
    assert course.assignment("conv-by-hand").points == 30
