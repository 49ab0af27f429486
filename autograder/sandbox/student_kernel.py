"""One submission's sandboxed kernel: it runs the notebook cell by cell within the time limits,
survives the student's code killing it (the killing cell is skipped and the rest replayed), and
then runs the checker's calls."""

from __future__ import annotations

import atexit
import contextlib
import functools
import multiprocessing.util
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from ..course.config import Limits
from . import cputime
from .gpu_share import GPU_PREAMBLE, GpuShare
from .jupyter import ANSWER_OUTPUT_CAP, CappedNotebookClient, new_kernel_manager, stopped_by_relay
from .walls import SandboxPlan, prepare_dirs

__all__ = ["ANSWER_OUTPUT_CAP", "KernelGone", "StudentKernel"]
# the longest folder the sockets may lie in ("<folder>/relay/control" and the like within 107)
SOCKET_FOLDER_MAX = 72


# the kernel started ahead for this process's next submission (StudentKernel.start_ahead)
_SPARE: list[StudentKernel] = []


@functools.cache
def _stop_spares_at_exit() -> None:
    """Stop a kernel started ahead when this process exits (a runner's worker process exits
    through multiprocessing, which runs its finalizers but not atexit's)."""
    def stop() -> None:
        while _SPARE:
            _SPARE.pop().__exit__()
    atexit.register(stop)
    multiprocessing.util.Finalize(None, stop, exitpriority=10)


class KernelGone(Exception):
    """The student's kernel died or stopped answering; the message says which."""


@dataclass
class ExecutionReport:
    seconds: float = 0.0        # wall-clock seconds of the notebook's run
    cpu_seconds: float = 0.0    # CPU seconds its cells used, first runs only (sandbox.cputime)
    problems: list[str] = field(default_factory=list)   # one sentence each, shown to the student
    errors: int = 0                                     # cells that raised an exception
    # what a wall-clock limit stopped (a cell, the notebook, a checker's call), one sentence
    # each: graded again alone when other submissions ran beside it (cnngrade.grading.runners)
    wall_stops: list[str] = field(default_factory=list)
    # (cell number, CPU seconds, wall seconds) of each code cell's first run
    cells: list[tuple[int, float, float]] = field(default_factory=list)
    clock: str = "cpu"          # "cpu": the limits counted CPU time; "wall": the wall clock
    call_cpu_seconds: float = 0.0   # the most CPU seconds one checker call used


@dataclass(frozen=True)
class Budget:
    """One time limit: CPU seconds (None where CPU time cannot be read) and a wall-clock
    backstop."""
    cpu: float | None
    wall: float

    @classmethod
    def of(cls, seconds: float, limits: Limits) -> Budget:
        if cputime.available():
            return cls(seconds, limits.wall(seconds))
        return cls(None, seconds)


class StudentKernel:
    """Use as a context manager: `with StudentKernel(nb, limits) as k: k.run_notebook(); ...`."""

    def __init__(self, nb: NotebookNode, limits: Limits, *, gpu: bool = False,
                 files: dict[str, bytes] | None = None,
                 data: tuple[tuple[Path, str], ...] = (), threads: int | None = None,
                 preamble: str = "", keras_backend: str = "tensorflow",
                 gpu_share: GpuShare | None = None, seat: int = 0):
        self.nb = nb
        # grader-written code run in each fresh kernel before the notebook's cells (e.g.
        # cnngrade.grading.kernel_hooks.FIT_RECORDER); untrusted once it runs there
        self.preamble = (GPU_PREAMBLE + preamble) if gpu else preamble
        self.limits = limits
        self.files = files or {}
        self._tmp = Path(tempfile.mkdtemp(prefix="cnngrade-"))
        # a Unix socket's path has at most 107 bytes: below a deep TMPDIR, the kernel's and the
        # relay's sockets go to a folder of their own in /tmp
        self._sockets = self._tmp if len(str(self._tmp)) <= SOCKET_FOLDER_MAX else Path(
            tempfile.mkdtemp(prefix="cnngrade-", dir="/tmp"))
        self.plan = SandboxPlan(scratch=self._tmp / "home", sockets=self._sockets / "sock",
                                limits=limits, gpu=gpu, data=data,
                                threads=threads, keras_backend=keras_backend,
                                gpu_share=gpu_share, seat=seat)
        self.skipped: dict[int, str] = {}   # cell index -> why it is no longer run
        self._done: set[int] = set()        # cells that ran to the end (with or without error)
        self.client: CappedNotebookClient | None = None
        self.report = ExecutionReport(clock="cpu" if cputime.available() else "wall")
        self._deadline = 0.0
        self._launched = False   # a kernel process was started and has not been connected

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> StudentKernel:
        prepare_dirs(self.plan)
        self._write_files()
        return self

    def _write_files(self) -> None:
        for name, data in self.files.items():
            target = self.plan.scratch / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def __exit__(self, *exc: object) -> None:
        self._stop()
        for folder in {self._tmp, self._sockets}:
            shutil.rmtree(folder, ignore_errors=True)

    def _start(self) -> None:
        self._launch()
        self._connect()

    def _launch(self) -> None:
        """Start the sandboxed kernel's process; it boots while this process goes on."""
        km = new_kernel_manager(self.plan)
        client = CappedNotebookClient(
            self.nb, km=km, timeout=int(self.limits.cell_timeout), allow_errors=True,
            kernel_name="python3", shutdown_kernel="immediate",
            # generous waits for what the student does not control (a kernel's start, the
            # last output after a reply): on a busy machine they take longer, never forever
            startup_timeout=300, iopub_timeout=120,
            resources={"metadata": {"path": str(self.plan.scratch)}},
        )
        client.output_cap = self.limits.output_size
        self.client = client
        try:
            # a fresh log per start: a kernel that filled its log (up to the file-size limit)
            # must not stop the next one from writing its start-up messages
            with open(self._tmp / "kernel.log", "wb") as log:
                client.start_new_kernel(cwd=str(self.plan.scratch), stdout=log, stderr=log)
        except Exception as exc:
            self._gone(exc)
        self._launched = True

    def _connect(self) -> None:
        """Wait for the launched kernel to answer, then run the grader's preamble in it."""
        client = self.client
        assert client is not None
        self._launched = False
        client.nb = self.nb
        try:
            client.start_new_kernel_client()
        except Exception as exc:
            self._gone(exc)
        if self.preamble:
            cell = nbformat.v4.new_code_cell(self.preamble)
            self.nb.cells.append(cell)
            try:
                client.execute_cell(cell, len(self.nb.cells) - 1, store_history=False)
            finally:
                self.nb.cells.pop()

    def _gone(self, exc: Exception) -> None:
        self._stop()
        log = self._tmp / "kernel.log"
        last = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        detail = f"; its last words: {last[0][:200]}" if last else ""
        raise KernelGone(f"the Python kernel could not start in the sandbox ({exc}{detail})"
                         ) from None

    # -- a kernel started ahead (warm kernels) -------------------------------------------------
    def _key(self) -> tuple:
        """What a kernel started ahead must share with the submission that takes it."""
        return (type(self), self.plan.limits, self.plan.gpu, self.plan.data, self.plan.threads,
                self.plan.keras_backend, self.plan.gpu_share, self.preamble)

    @classmethod
    def ready(cls, nb: NotebookNode, limits: Limits, **settings) -> StudentKernel:
        """A kernel for `nb`, to use in a `with`: the one `start_ahead` launched for
        the same settings if there is one (it has booted meanwhile and never ran anything),
        else a new one. Either way a fresh kernel, never one that ran another notebook."""
        files = settings.pop("files", None) or {}
        fresh = cls(nb, limits, **settings)
        spare, _SPARE[:] = (_SPARE[0] if _SPARE else None), []
        if spare is not None and spare._key() == fresh._key() and spare._launched:
            fresh._discard()
            spare.nb, spare.files = nb, files   # written by __enter__
            return spare
        if spare is not None:
            spare.__exit__()
        fresh.files = files
        return fresh

    def start_ahead(self) -> None:
        """Launch a kernel with this one's settings for the next submission this process
        grades (StudentKernel.ready takes it); at most one waits at a time, and it is stopped
        when this process exits."""
        while _SPARE:
            _SPARE.pop().__exit__()
        placeholder = nbformat.v4.new_notebook()
        spare = type(self)(placeholder, self.limits, gpu=self.plan.gpu, data=self.plan.data,
                              threads=self.plan.threads, keras_backend=self.plan.keras_backend,
                              gpu_share=self.plan.gpu_share, seat=1 - self.plan.seat)
        spare.preamble = self.preamble
        spare.__enter__()
        try:
            spare._launch()
        except KernelGone:
            spare.__exit__()
            return
        _SPARE.append(spare)
        _stop_spares_at_exit()

    def _discard(self) -> None:
        for folder in {self._tmp, self._sockets}:
            shutil.rmtree(folder, ignore_errors=True)

    def _stop(self) -> None:
        self._launched = False
        client, self.client = self.client, None
        if client is None:
            return
        # Best effort at each step: the kernel may already be dead, or hung.
        # the sandbox's first process, read before nbclient's clean-up forgets the manager
        process = getattr(getattr(client.km, "provisioner", None), "process", None)
        with contextlib.suppress(Exception):
            if client.kc is not None:
                client.kc.stop_channels()
        with contextlib.suppress(Exception):
            if client.km is not None and client.km.has_kernel:
                client._cleanup_kernel()
        with contextlib.suppress(Exception):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    # -- the notebook ------------------------------------------------------------------------
    def _root_pid(self) -> int | None:
        """The sandbox's first process (bwrap, unshare or env): the root of the kernel's tree."""
        process = getattr(getattr(getattr(self.client, "km", None), "provisioner", None),
                          "process", None)
        return getattr(process, "pid", None)

    def _watch(self, cpu: float | None) -> cputime.CpuWatch:
        """A watch on the kernel's CPU time (one that never fires where `cpu` is None)."""
        return cputime.CpuWatch(self._root_pid() if cpu is not None else None, cpu or 0.0)

    def run_notebook(self) -> ExecutionReport:
        """Execute every code cell once, in order, within the cell and notebook time limits."""
        start = time.monotonic()
        self._deadline = start + Budget.of(self.limits.notebook_timeout, self.limits).wall
        self._replay()
        self.report.seconds = time.monotonic() - start
        self.report.errors = sum(
            1 for c in self.nb.cells if c.cell_type == "code"
            and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
        return self.report

    def _replay(self) -> None:
        """(Re)start the kernel and run the cells that have not been ruled out. Each restart
        rules out one more cell and the notebook's budget holds across restarts, so this ends.
        KernelGone only when a kernel cannot be started at all (the grader's problem)."""
        while True:
            try:
                if self._launched:   # started ahead: it booted while the last one ran
                    try:
                        self._connect()
                    except KernelGone:   # it ran nothing, so it is no one's fault: afresh
                        self._start()
                else:
                    self._stop()
                    self._start()
            except KernelGone as gone:
                self.report.problems.append(f"{gone}.")
                raise
            if self._run_cells():
                return

    def _run_cells(self) -> bool:
        """True when all cells ran (or time ran out); False when the kernel must be restarted.

        Cells that already ran to the end are replayed with the per-cell limits only: they were
        within the notebook's budget, and the state they build is what the checker needs."""
        assert self.client is not None
        cell_budget = Budget.of(self.limits.cell_timeout, self.limits)
        notebook = Budget.of(self.limits.notebook_timeout, self.limits)
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code" or index in self.skipped:
                continue
            cpu, wall = cell_budget.cpu, cell_budget.wall
            first = index not in self._done
            if first:
                wall_left = self._deadline - time.monotonic()
                cpu_left = (notebook.cpu - self.report.cpu_seconds
                            if notebook.cpu is not None else None)
                if wall_left <= 1:
                    self._skip_rest(index, wall=True)
                    return True
                if cpu_left is not None and cpu_left <= 0.5:
                    self._skip_rest(index, wall=False)
                    return True
                wall = min(wall, wall_left)
                cpu = min(cpu, cpu_left) if cpu is not None and cpu_left is not None else cpu
            self.client.timeout = int(max(1, wall))
            cell.outputs = []
            watch = self._watch(cpu)
            began = time.monotonic()
            try:
                with watch:
                    self.client.execute_cell(cell, index)
            except CellTimeoutError:
                self._count(index, first, watch, began)
                if wall < cell_budget.wall:   # cut short by the notebook's deadline
                    self._skip_rest(index, wall=True)
                else:
                    self._rule_out(index, self._stopped(index, wall, on_wall=True), wall=True)
                return False
            except DeadKernelError:
                self._count(index, first, watch, began)
                relay = stopped_by_relay(self.plan)
                if relay:
                    self._rule_out(index, f"cell {index + 1} was stopped: {relay}; it was "
                                          "skipped")
                elif not watch.fired:
                    self._rule_out(index, f"cell {index + 1} killed the Python kernel (it "
                                          "exited, crashed or ran out of memory); it was "
                                          "skipped")
                elif cell_budget.cpu is not None and cpu is not None and cpu < cell_budget.cpu:
                    self._skip_rest(index, wall=False)   # the notebook's CPU budget ran out
                else:
                    self._rule_out(index, self._stopped(index, watch.limit, on_wall=False))
                return False
            self._count(index, first, watch, began)
            self._done.add(index)
        return True

    def _count(self, index: int, first: bool, watch: cputime.CpuWatch, began: float) -> None:
        """A cell's first run counts towards the notebook's budget."""
        if first:
            self.report.cpu_seconds += watch.used
            self.report.cells.append((index + 1, round(watch.used, 2),
                                      round(time.monotonic() - began, 2)))

    def _stopped(self, index: int, seconds: float, *, on_wall: bool) -> str:
        if on_wall and self.report.clock == "cpu":
            return (f"cell {index + 1} was stopped after {seconds:.0f} s without finishing "
                    "(wall-clock limit per cell: it slept, waited or was starved of CPU); "
                    "it was skipped")
        what = "s of computing" if self.report.clock == "cpu" else "s"
        return f"cell {index + 1} was stopped after {seconds:.0f} {what} (time limit per cell); " \
               "it was skipped"

    def _rule_out(self, index: int, why: str, *, wall: bool = False) -> None:
        self.skipped[index] = why
        self.report.problems.append(why + ".")
        if wall:
            self.report.wall_stops.append(why + ".")
        cell = self.nb.cells[index]
        cell.outputs = [nbformat.v4.new_output("error", ename="CnngradeLimit", evalue=why,
                                               traceback=[why])]

    def _skip_rest(self, index: int, *, wall: bool) -> None:
        for rest in range(index, len(self.nb.cells)):
            if self.nb.cells[rest].cell_type == "code" and rest not in self.skipped:
                self.skipped[rest] = "not run: the notebook's time limit was reached"
        if wall and self.report.clock == "cpu":
            seconds = Budget.of(self.limits.notebook_timeout, self.limits).wall
            why = (f"the notebook's wall-clock limit ({seconds:.0f} s) was reached at cell "
                   f"{index + 1} (its cells slept, waited or were starved of CPU); the cells "
                   "from there on were not run.")
            self.report.wall_stops.append(why)
        else:
            what = " of computing" if self.report.clock == "cpu" else ""
            why = (f"the notebook's time limit ({self.limits.notebook_timeout:.0f} s{what}) was "
                   f"reached at cell {index + 1}; the cells from there on were not run.")
            if wall:
                self.report.wall_stops.append(why)
        self.report.problems.append(why)

    # -- the checker's calls ---------------------------------------------------------------
    def run_code(self, code: str, timeout: float) -> list[dict]:
        """Run `code` in the student's kernel and return its outputs (untrusted data); it may
        compute for `timeout` CPU seconds (wall-clock backstop: Limits.wall)."""
        if self.client is None:   # a previous call killed the kernel: rebuild its state
            self._replay()
        assert self.client is not None
        budget = Budget.of(timeout, self.limits)
        cell = nbformat.v4.new_code_cell(code)
        self.nb.cells.append(cell)
        self.client.timeout = int(max(1, budget.wall))
        # a checker call's answer (arrays as .npy text) may be larger than a cell's output
        self.client.output_cap = max(self.limits.output_size, ANSWER_OUTPUT_CAP)
        watch = self._watch(budget.cpu)
        try:
            with watch:
                self.client.execute_cell(cell, len(self.nb.cells) - 1, store_history=False)
        except CellTimeoutError:
            self._stop()
            if budget.cpu is None:
                why = f"it did not finish within {budget.wall:.0f} s"
            else:
                why = (f"it did not finish within {budget.wall:.0f} s (wall-clock limit per "
                       "call: it slept, waited or was starved of CPU)")
            self.report.wall_stops.append(f"a check's call was stopped: {why}.")
            raise KernelGone(why) from None
        except DeadKernelError:
            self._stop()
            relay = stopped_by_relay(self.plan)
            if relay:
                raise KernelGone(relay) from None
            if watch.fired:
                raise KernelGone(f"it computed for more than {timeout:.0f} s (the time limit "
                                 "per call)") from None
            raise KernelGone("it killed the Python kernel (it exited, crashed or ran out of "
                             "memory)") from None
        finally:
            self.report.call_cpu_seconds = max(self.report.call_cpu_seconds, watch.used)
            if self.client is not None:
                self.client.output_cap = self.limits.output_size
            self.nb.cells.pop()
        return list(cell.outputs)
