# Two commands on a fresh machine: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# tensorflow-cpu where there is no NVIDIA GPU, the full tensorflow where there is one.
TF_EXTRA := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)
COURSE ?= course

.PHONY: setup system demo test test-jax lint bench walls clean

setup: system $(STAMP)

system:
	@./scripts/setup-system.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(TF_EXTRA),dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/cnngrade data prepare --hidden --course-dir $(COURSE)
	$(BIN)/cnngrade demo --course-dir $(COURSE)

test: setup
	$(BIN)/cnngrade data prepare --hidden
	$(BIN)/ruff check autograder cli tests scripts
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not jax_training"

# keras-convnet's reference trained on the JAX backend: 7 min 38 s here, too long for CI's
# limit beside the rest of the suite (README, Known limits).
test-jax: setup
	$(BIN)/cnngrade data prepare --hidden
	$(BIN)/python -m pytest -q -m jax_training

# Speed and learning figures, printed (not asserted by the tests): every step of
# scripts/bench_all.py in one run, then a summary of every ratio beside the earlier figures
# (the whole output in build/bench.log). `make bench BENCH="--only nbgrader,desk"`.
BENCH ?=
bench: setup
	$(BIN)/cnngrade data prepare --hidden
	$(BIN)/python scripts/bench_all.py $(BENCH)

# Each wall of the sandbox and the intake removed in a copy of the tree, the tests that claim it
# run there (scripts/remove_walls.py; not part of `make test`). Exit 1 if a wall survived.
# `make walls WALLS="--only network-namespace,release-leak"`, `make walls WALLS=--list`.
WALLS ?=
walls: setup
	$(BIN)/cnngrade data prepare --hidden
	$(BIN)/python scripts/remove_walls.py $(WALLS)

lint: setup
	$(BIN)/ruff check autograder cli tests scripts

clean:
	rm -rf $(VENV) $(COURSE) .pytest_cache
