"""GPU packing on CPU with faked GPU ids: the environment each kernel gets for its share of a
GPU, on each Keras backend, and the local runner never putting more than `gpu_slots` jobs on one
GPU at a time (while using every slot); the Ray runner's request of 1 / gpu_slots of a GPU."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from cnngrade.course.config import Limits
from cnngrade.course.errors import ConfigError
from cnngrade.grading.grade import runner_options
from cnngrade.grading.runners import gpu_slot_list, ray_gpus, run_local
from cnngrade.grading.worker_plan import plan_workers
from cnngrade.sandbox.gpu_share import GpuShare, gpu_environment, slots_that_fit
from cnngrade.sandbox.walls import SandboxPlan, kernel_environment

GiB = 1024**3


def test_each_backend_gets_its_memory_cap():
    share = GpuShare("1", slots=4, memory=20 * GiB, total=80 * GiB)
    assert share.fraction == 0.25 and share.memory_mb == 20 * 1024
    jax = gpu_environment(share, "jax")
    assert jax["CUDA_VISIBLE_DEVICES"] == "1"
    assert jax["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert jax["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.25"
    torch = gpu_environment(share, "torch")
    assert torch["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
    assert torch["CNNGRADE_GPU_FRACTION"] == "0.25"
    tf = gpu_environment(share, "tensorflow")
    assert tf["CNNGRADE_GPU_MEMORY_MB"] == str(20 * 1024)   # the preamble's logical device
    assert tf["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in tf
    # no size declared and no nvidia-smi: an equal share, below the whole GPU
    assert GpuShare("0", slots=3).fraction == pytest.approx(0.95 / 3, abs=1e-4)


def test_the_kernel_environment_carries_the_share(tmp_path: Path):
    share = GpuShare("3", slots=2, memory=8 * GiB, total=80 * GiB)
    plan = SandboxPlan(tmp_path / "h", tmp_path / "s", Limits(), gpu=True,
                       keras_backend="jax", gpu_share=share)
    env = kernel_environment(plan)
    assert env["KERAS_BACKEND"] == "jax" and env["CUDA_VISIBLE_DEVICES"] == "3"
    assert env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.1"
    cpu = kernel_environment(replace(plan, gpu=False))
    assert cpu["CUDA_VISIBLE_DEVICES"] == "" and "XLA_PYTHON_CLIENT_MEM_FRACTION" not in cpu


def test_slots_fit_the_memory_and_the_plan_counts_them():
    assert slots_that_fit(8, 20 * GiB, 80 * GiB) == 3     # 3 x 20 GiB within 95% of 80
    assert slots_that_fit(8, None, 80 * GiB) == 8
    assert gpu_slot_list(["0", "1"], 2, 3) == ["0", "1", "0"]
    plan = plan_workers(Limits(memory=GiB), 10, gpus=2, cores=16, memory=64 * GiB,
                        gpu_slots=3)
    assert plan.workers == 6 and "3 slot(s)" in plan.describe(10)


@dataclass(frozen=True)
class _Asg:
    gpu: bool = True
    gpu_slots: int = 2


@dataclass(frozen=True)
class _Job:
    n: int
    assignment: _Asg = _Asg()
    gpu: str | None = None
    threads: int | None = None
    rerun_of: tuple[str, ...] | None = None
    warm: bool = False


@dataclass
class _Outcome:
    job: _Job
    began: float
    ended: float
    results: dict


def _hold(job: _Job) -> _Outcome:
    began = time.monotonic()
    time.sleep(0.5)
    return _Outcome(job, began, time.monotonic(), {})


def test_never_more_than_the_slots_on_one_gpu():
    """Two faked GPUs, two slots each, eight workers asked for: at most two jobs on a GPU at
    any moment, both GPUs used, each GPU's jobs overlapping (the packing is real)."""
    jobs = [_Job(i) for i in range(10)]
    outcomes = list(run_local(jobs, 4, _hold, gpus=["0", "1"], gpu_slots=2))
    assert sorted(o.job.n for o in outcomes) == list(range(10))
    for gpu in ("0", "1"):
        spans = [(o.began, o.ended) for o in outcomes if o.job.gpu == gpu]
        assert spans
        worst = max(sum(1 for b, e in spans if b <= moment < e) for moment, _ in spans)
        assert worst <= 2
    assert {o.job.gpu for o in outcomes} == {"0", "1"}


def test_ray_asks_for_a_share_of_a_gpu():
    assert ray_gpus(_Job(0, _Asg(gpu=True, gpu_slots=4))) == 0.25
    assert ray_gpus(_Job(0, _Asg(gpu=False))) == 0


def test_runner_options_are_checked(mini_course):
    asg = mini_course.assignment("mini")
    assert runner_options(asg, "jax", 3).keras_backend == "jax"
    assert runner_options(asg, None, 3).gpu_slots == 3
    with pytest.raises(ConfigError, match="keras_backend"):
        runner_options(asg, "theano", None)


def test_assignment_toml_reads_the_gpu_settings(mini_course):
    toml = mini_course.assignments_dir / "mini" / "assignment.toml"
    toml.write_text('keras_backend = "jax"\ngpu_slots = 4\ngpu_memory = "12GiB"\n'
                    + toml.read_text())
    asg = mini_course.assignment("mini")
    assert (asg.keras_backend, asg.gpu_slots, asg.gpu_memory) == ("jax", 4, 12 * GiB)
    toml.write_text(toml.read_text().replace("gpu_slots = 4", "gpu_slots = 0"))
    with pytest.raises(ConfigError, match="gpu_slots = 0"):
        mini_course.assignment("mini")


def test_warm_kernels_are_fresh_for_every_student(mini_course, tmp_path):
    """One worker grades three students in turn, each next kernel started while the last one
    ran: none of them sees what the student before left in the kernel (each notebook adds 1 to
    a global the last one would have left behind)."""
    from conftest import filled, submit

    from cnngrade.grading.grade import grade
    from cnngrade.intake.collect import collect
    inbox = tmp_path / "inbox"
    answer = ("import builtins, os\nanswer = 42 + getattr(builtins, 'left_behind', 0)\n"
              "builtins.left_behind = 1\npid = os.getpid()")
    for student in ("a", "b", "c"):
        submit(inbox, student, filled(mini_course, "mini", {"answer": answer}))
    collect(mini_course, "mini", inbox)
    summary = grade(mini_course, "mini", workers=1)
    assert [o.results["score"] for o in summary.graded] == [4, 4, 4]
