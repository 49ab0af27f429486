"""Walls of the sandbox that the quick tests of test_sandbox.py do not tell apart, each probed
from inside a real kernel by a test that fails when that one wall is removed
(scripts/remove_walls.py names each test beside its wall).

As root the kernel runs as an unprivileged uid of its own, which cannot write root's 0755
folders whatever the sandbox binds: a read-only bind is told from a writable one here by a
folder that uid *could* write (mode 0777) and by the errno, EROFS (a read-only mount) rather
than EACCES (the folder's own permissions)."""

from __future__ import annotations

import ast
import errno
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from cnngrade.course.config import Limits
from cnngrade.sandbox import cputime
from cnngrade.sandbox.student_kernel import KernelGone, StudentKernel
from cnngrade.sandbox.walls import sandbox_kind

pytestmark = pytest.mark.slow
# test_sandbox.py::test_sandbox_is_bubblewrap_here fails where bubblewrap is missing
bwrap_only = pytest.mark.skipif(sandbox_kind() != "bwrap",
                                reason="a wall of bubblewrap's (its mounts)")
proc_only = pytest.mark.skipif(not cputime.available(),
                               reason="CPU time and process trees are read from /proc")
REPO = Path(__file__).resolve().parent.parent
MiB = 1024**2
LIMITS = Limits(cell_timeout=20, notebook_timeout=120, memory=1024**3, processes=32,
                file_size=MiB)

# a cell's helper: what writing at a path does, as one line (ok, or the errno's name)
ATTEMPT = """import errno, os
def attempt(what, *args):
    try:
        what(*args)
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
def write(path, mode='w'):
    with open(path, mode) as f:
        f.write('x')
"""


def run(cells: list[str], limits: Limits = LIMITS, **kernel: object) -> list[str]:
    """The text each cell printed (its error's message where it raised), one string a cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in cells]
    with StudentKernel(nb, limits, **kernel) as k:
        report = k.run_notebook()
    assert report.problems == [], report.problems
    return ["".join(o.get("text", "") or f"{o.get('ename')}: {o.get('evalue')}"
                    for o in c.outputs) for c in nb.cells]


def listing(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` with its content (to see that nothing changed there)."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(folder.rglob("*"))}


# -- read-only binds ---------------------------------------------------------------------------

@bwrap_only
def test_a_bound_python_folder_is_read_only_even_where_the_kernels_uid_could_write(
        tmp_path, monkeypatch):
    """wall ro-bind-python. A Python folder the kernel's uid may write on the host (mode 0777,
    as a careless `pip install --target` or a shared conda folder may be) is still read-only in
    the sandbox: EROFS, and no sitecustomize.py lands there. The real site-packages gives EROFS
    too (bound writable, the kernel's uid would get EACCES there as root)."""
    from cnngrade.sandbox import walls
    writable = tmp_path / "site-packages"
    writable.mkdir()
    (writable / "present.py").write_text("x = 1\n")
    writable.chmod(0o777)
    (writable / "present.py").chmod(0o666)
    roots = walls._python_roots()
    monkeypatch.setattr(walls, "_python_roots", lambda: sorted({*roots, writable}))
    before = listing(writable)
    site = next(p for p in roots if p.name in ("site-packages", "dist-packages"))
    probe = site / "cnngrade_wall_probe.py"
    try:
        out = run([
            ATTEMPT + f"print(sorted(os.listdir({str(writable)!r})))",
            f"print(attempt(write, {str(writable / 'sitecustomize.py')!r}),"
            f" attempt(write, {str(writable / 'present.py')!r}, 'a'),"
            f" attempt(os.remove, {str(writable / 'present.py')!r}),"
            f" attempt(os.mkdir, {str(writable / 'evil')!r}))",
            f"print(attempt(write, {str(probe)!r}))",
        ])
    finally:   # not as root, the kernel's uid is this one: a writable bind lets it land
        landed = probe.exists()
        probe.unlink(missing_ok=True)
    assert out[0] == "['present.py']\n", out   # bound: the kernel sees the folder
    assert out[1] == "EROFS EROFS EROFS EROFS\n", out
    assert out[2] == "EROFS\n", out
    assert listing(writable) == before
    assert not landed


@bwrap_only
@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/local").is_dir(),
                    reason="only as root: only root may make the probe's folder in /usr/local")
def test_as_root_the_system_folders_are_read_only_even_where_the_kernels_uid_could_write():
    """wall ro-bind-system. A folder in /usr that the kernel's uid could write on the host (mode
    0777, made here for the test and removed after it) is read-only in the sandbox: EROFS, and
    nothing lands on the host. (Without such a folder no uid but root's could write /usr at
    all, so only this tells the read-only bind from a writable one.)"""
    probe = Path(tempfile.mkdtemp(prefix="cnngrade-wall-probe-", dir="/usr/local"))
    try:
        probe.chmod(0o777)
        out = run([ATTEMPT + f"print(os.path.isdir({str(probe)!r}), "
                   f"attempt(write, {str(probe / 'evil')!r}), "
                   f"attempt(os.mkdir, {str(probe / 'evil.d')!r}))"])
        landed = sorted(p.name for p in probe.iterdir())
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    assert out == ["True EROFS EROFS\n"], out
    assert landed == []


@bwrap_only
def test_the_public_datasets_are_read_only_even_where_the_kernels_uid_could_write(tmp_path):
    """wall ro-bind-data. A public dataset, bound below ~/.keras, from a host folder the
    kernel's uid could write (0777, a file 0666): the kernel reads it, and every write there
    fails with EROFS; the host's folder is unchanged."""
    data = tmp_path / "fashion-mnist"
    data.mkdir()
    (data / "train.npz").write_bytes(b"public images")
    data.chmod(0o777)
    (data / "train.npz").chmod(0o666)
    before = listing(data)
    inside = "/home/student/.keras/datasets/fashion-mnist"
    out = run([
        ATTEMPT + f"print(open({inside + '/train.npz'!r}, 'rb').read())",
        f"print(attempt(write, {inside + '/new.npz'!r}), attempt(write, {inside + '/train.npz'!r}),"
        f" attempt(write, {inside + '/train.npz'!r}, 'a'), attempt(os.remove, "
        f"{inside + '/train.npz'!r}), attempt(os.mkdir, {inside + '/evil'!r}))",
    ], data=((data, "datasets/fashion-mnist"),))
    assert out[0] == "b'public images'\n", out
    assert out[1] == "EROFS EROFS EROFS EROFS EROFS\n", out
    assert listing(data) == before


# -- what stays out ----------------------------------------------------------------------------

@bwrap_only
def test_the_reference_solutions_are_not_in_the_sandbox():
    """wall solutions-out. The checkout's solutions/ (readable notebooks on the host) is not
    there: no path to it, and its parent folder, where it exists inside, does not list it."""
    solutions = REPO / "solutions"
    notebooks = sorted(solutions.glob("*.ipynb"))
    assert notebooks, "this checkout has no solutions to hide"
    out = run([
        f"import os\nprint(os.path.exists({str(solutions)!r}),"
        f" os.path.exists({str(notebooks[0])!r}))",
        f"try:\n    print(sorted(os.listdir({str(REPO)!r})))\n"
        "except FileNotFoundError:\n    print([])",
    ])
    assert out[0] == "False False\n", out
    assert "solutions" not in ast.literal_eval(out[1]), out


@bwrap_only
def test_the_hidden_data_folder_is_not_in_the_sandbox(tmp_path, monkeypatch):
    """wall hidden-data-out. The real folder is mode 0700 (cnngrade data prepare), which as
    root the kernel's uid could not enter even if it were bound; this one is 0755 with a file
    anyone may read, so only its absence from the sandbox keeps it out."""
    hidden = tmp_path / "hidden"
    (hidden / "fashion-mnist").mkdir(parents=True)
    held_back = hidden / "fashion-mnist" / "test-held-back.npz"
    held_back.write_bytes(b"the labels the grader judges on")
    for folder in (hidden, hidden / "fashion-mnist"):
        folder.chmod(0o755)
    held_back.chmod(0o644)
    monkeypatch.setenv("CNNGRADE_HIDDEN_DATA", str(hidden))
    out = run([
        f"import os\nprint(os.path.exists({str(hidden)!r}), os.path.exists({str(held_back)!r}))",
        f"try:\n    print(open({str(held_back)!r}, 'rb').read())\n"
        "except OSError as e:\n    print(type(e).__name__)",
    ])
    assert out == ["False False\n", "FileNotFoundError\n"], out


# -- the RAM-backed folders ------------------------------------------------------------------------

@bwrap_only
def test_tmp_and_dev_shm_are_full_before_100_mib():
    """wall tmpfs-size. /tmp and /dev/shm are tmpfs of max(64 MiB, file_size): files each
    well under the file-size limit (1 MiB) still fill each folder (ENOSPC) before 64 MiB, so
    a kernel cannot take the host's memory by writing many of them. (Without the cap the loop
    stops itself at 100 MiB per folder, which the kernel's tmpfs drops with it.)"""
    out = run([
        "import os\n"
        "def fill(folder, chunk=b'x' * (512 * 1024)):\n"
        "    total = 0\n"
        "    try:\n"
        "        while total < 100 * 2**20:\n"
        "            with open(f'{folder}/fill-{total}', 'wb') as f:\n"
        "                f.write(chunk)\n"
        "            total += len(chunk)\n"
        "    except OSError as e:\n"
        "        return e.errno, total\n"
        "    finally:\n"
        "        for name in os.listdir(folder):\n"
        "            if name.startswith('fill-'):\n"
        "                os.remove(f'{folder}/{name}')\n"
        "    return None, total\n"
        "print(repr([fill('/tmp'), fill('/dev/shm')]))",
    ])
    for err, total in ast.literal_eval(out[0]):
        assert err == errno.ENOSPC and 8 * MiB <= total <= 64 * MiB, out


# -- time --------------------------------------------------------------------------------------

@proc_only
def test_a_checker_call_is_stopped_by_its_cpu_time():
    """wall call-cpu-limit. A checker's call that computes forever is stopped after its
    `timeout` CPU seconds (1 s), with the CPU limit's message, long before its wall-clock
    backstop (60 x 1 s): however busy the machine, one CPU second comes sooner. The kernel
    is rebuilt for the next call."""
    limits = Limits(cell_timeout=20, notebook_timeout=60, call_timeout=1, memory=1024**3,
                    processes=32, file_size=MiB, wall_factor=60)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 41")]
    with StudentKernel(nb, limits) as kernel:
        kernel.run_notebook()
        with pytest.raises(KernelGone) as gone:
            kernel.run_code("while True:\n    pass", 1)
        assert str(gone.value) == "it computed for more than 1 s (the time limit per call)"
        assert kernel.report.wall_stops == []
        assert kernel.report.call_cpu_seconds >= 1
        outputs = kernel.run_code("print(x + 1)", 10)
    assert outputs[0]["text"] == "42\n"


# -- after the kernel --------------------------------------------------------------------------

def _started(pid: int) -> str | None:
    """The start time of process `pid` (so a reused pid is not taken for it), None if gone;
    a zombie (exited, not reaped) is still there."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()[19]


def _left(tree: dict[int, str], patience: float) -> dict[int, str]:
    """Processes of `tree` (pid -> start time) still there after at most `patience` seconds;
    those the grader did not start are reaped by the host's init, in its own time."""
    deadline = time.monotonic() + patience
    while True:
        left = {pid: start for pid, start in tree.items() if _started(pid) == start}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


STUBBORN = (
    "import signal, subprocess, sys\n"
    "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
    "    signal.signal(s, signal.SIG_IGN)\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import signal, time\\n"
    "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\\n"
    "    signal.signal(s, signal.SIG_IGN)\\n"
    "time.sleep(600)'])\nprint('child', child.pid > 0)")


def _stubborn():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(STUBBORN)]
    return nb


def _ran_stubborn(kernel: StudentKernel) -> tuple[object, dict[int, str]]:
    """Run the STUBBORN notebook in `kernel`; its first process and its tree."""
    kernel.run_notebook()
    assert kernel.nb.cells[0].outputs[0]["text"] == "child True\n"
    return _tree_of(kernel)


def _tree_of(kernel: StudentKernel) -> tuple[object, dict[int, str]]:
    process = kernel.client.km.provisioner.process
    tree = {pid: _started(pid) for pid in cputime._tree(process.pid)}
    return process, {pid: start for pid, start in tree.items() if start is not None}


@proc_only
def test_after_grading_the_sandboxs_processes_are_gone_and_reaped():
    """wall process-reaping. After `with StudentKernel(...)`, the sandbox's first process has
    exited and was reaped by the grader (no zombie of the grader's), and every process of its
    tree is gone -- here a kernel and a child of its own that ignore SIGTERM, SIGINT and
    SIGHUP -- and so is a kernel started ahead and stopped without ever being connected.

    Removing the wall alone does not fail this test: nbclient's cleanup (shutdown
    "immediate") already SIGKILLs the process group and waits for the process; the pid
    namespace ends the rest. The next test is the one where the wall alone acts."""
    with StudentKernel(_stubborn(), LIMITS) as kernel:
        process, tree = _ran_stubborn(kernel)
        assert len(tree) >= 4, tree   # the first process, bwrap's, the kernel, its child
        kernel.start_ahead()
    spare = StudentKernel.ready(nbformat.v4.new_notebook(), LIMITS)
    assert spare._launched   # the kernel started ahead, never connected
    with spare:
        spare_process, spare_tree = _tree_of(spare)
        assert spare_tree
    for first, processes in ((process, tree), (spare_process, spare_tree)):
        assert first.returncode is not None   # waited for: exited and reaped, no zombie
        assert _started(first.pid) != processes[first.pid]   # not even a zombie
        assert _left(processes, patience=30) == {}


@proc_only
def test_a_kernel_whose_shutdown_failed_is_still_killed_and_reaped(monkeypatch):
    """wall process-reaping, where it is the only one: jupyter_client's shutdown of the kernel
    fails (here it raises before signalling anything, as nbclient's clean-up does when the
    kernel manager errs), and the grader still kills the sandbox's first process, waits for
    it, and its whole tree is gone."""
    from cnngrade.sandbox.jupyter import CappedNotebookClient

    def failed_shutdown(self):
        self.km = None   # as nbclient's clean-up leaves it, whatever happened
        raise RuntimeError("the kernel manager could not shut the kernel down")

    monkeypatch.setattr(CappedNotebookClient, "_cleanup_kernel", failed_shutdown)
    with StudentKernel(_stubborn(), LIMITS) as kernel:
        process, tree = _ran_stubborn(kernel)
    assert process.returncode is not None   # killed and waited for by the grader
    assert _left(tree, patience=30) == {}
