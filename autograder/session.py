"""One submission's sandboxed kernel: it runs the notebook cell by cell within the time limits,
survives the student's code killing it (the killing cell is skipped and the rest replayed), and
then runs the checker's calls."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from autograder.config import Limits
from autograder.kernel import CappedNotebookClient, new_kernel_manager
from autograder.sandbox import SandboxPlan, prepare_dirs

ANSWER_OUTPUT_CAP = 96 * 1024 * 1024


class KernelGone(Exception):
    """The student's kernel died or stopped answering; the message says which."""


@dataclass
class ExecutionReport:
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)   # one sentence each, shown to the student
    errors: int = 0                                     # cells that raised an exception


class StudentKernel:
    """Use as a context manager: `with StudentKernel(nb, limits) as k: k.run_notebook(); ...`."""

    def __init__(self, nb: NotebookNode, limits: Limits, *, gpu: bool = False,
                 files: dict[str, bytes] | None = None,
                 data: tuple[tuple[Path, str], ...] = ()):
        self.nb = nb
        self.limits = limits
        self.files = files or {}
        self._tmp = Path(tempfile.mkdtemp(prefix="cnngrade-"))
        self.plan = SandboxPlan(scratch=self._tmp / "home", sockets=self._tmp / "sock",
                                limits=limits, gpu=gpu, data=data)
        self.skipped: dict[int, str] = {}   # cell index -> why it is no longer run
        self._done: set[int] = set()        # cells that ran to the end (with or without error)
        self.client: CappedNotebookClient | None = None
        self.report = ExecutionReport()
        self._deadline = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> StudentKernel:
        prepare_dirs(self.plan)
        for name, data in self.files.items():
            target = self.plan.scratch / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _start(self) -> None:
        km = new_kernel_manager(self.plan)
        client = CappedNotebookClient(
            self.nb, km=km, timeout=int(self.limits.cell_timeout), allow_errors=True,
            kernel_name="python3", startup_timeout=60, shutdown_kernel="immediate",
            resources={"metadata": {"path": str(self.plan.scratch)}},
        )
        client.output_cap = self.limits.output_size
        try:
            # a fresh log per start: a kernel that filled its log (up to the file-size limit)
            # must not stop the next one from writing its start-up messages
            with open(self._tmp / "kernel.log", "wb") as log:
                client.start_new_kernel(cwd=str(self.plan.scratch), stdout=log, stderr=log)
            client.start_new_kernel_client()
        except Exception as exc:
            self.client = client
            self._stop()
            log = self._tmp / "kernel.log"
            last = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            detail = f"; its last words: {last[0][:200]}" if last else ""
            raise KernelGone(f"the Python kernel could not start in the sandbox ({exc}{detail})"
                             ) from None
        self.client = client

    def _stop(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        # Best effort at each step: the kernel may already be dead, or hung.
        with contextlib.suppress(Exception):
            if client.kc is not None:
                client.kc.stop_channels()
        with contextlib.suppress(Exception):
            if client.km is not None and client.km.has_kernel:
                client._cleanup_kernel()
        with contextlib.suppress(Exception):
            process = getattr(getattr(client.km, "provisioner", None), "process", None)
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    # -- the notebook ------------------------------------------------------------------------
    def run_notebook(self) -> ExecutionReport:
        """Execute every code cell once, in order, within the cell and notebook time limits."""
        start = time.monotonic()
        self._deadline = start + self.limits.notebook_timeout
        self._replay()
        self.report.seconds = time.monotonic() - start
        self.report.errors = sum(
            1 for c in self.nb.cells if c.cell_type == "code"
            and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
        return self.report

    def _replay(self) -> None:
        """(Re)start the kernel and run the cells that have not been ruled out. Each restart
        rules out one more cell and the notebook's deadline holds across restarts, so this ends.
        KernelGone only when a kernel cannot be started at all (the grader's problem)."""
        while True:
            self._stop()
            try:
                self._start()
            except KernelGone as gone:
                self.report.problems.append(f"{gone}.")
                raise
            if self._run_cells():
                return

    def _run_cells(self) -> bool:
        """True when all cells ran (or time ran out); False when the kernel must be restarted.

        Cells that already ran to the end are replayed with the per-cell limit only: they were
        within the notebook's time, and the state they build is what the checker needs."""
        assert self.client is not None
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code" or index in self.skipped:
                continue
            limit = self.limits.cell_timeout
            if index not in self._done:
                remaining = self._deadline - time.monotonic()
                if remaining <= 1:
                    self._skip_rest(index)
                    return True
                limit = min(limit, remaining)
            self.client.timeout = int(max(1, limit))
            cell.outputs = []
            try:
                self.client.execute_cell(cell, index)
            except CellTimeoutError:
                if limit < self.limits.cell_timeout:   # cut short by the notebook's deadline
                    self._skip_rest(index)
                else:
                    self._rule_out(index, f"cell {index + 1} was stopped after {limit:.0f} s "
                                          "(time limit per cell); it was skipped")
                return False
            except DeadKernelError:
                self._rule_out(index, f"cell {index + 1} killed the Python kernel (it exited, "
                                      "crashed or ran out of memory); it was skipped")
                return False
            self._done.add(index)
        return True

    def _rule_out(self, index: int, why: str) -> None:
        self.skipped[index] = why
        self.report.problems.append(why + ".")
        cell = self.nb.cells[index]
        cell.outputs = [nbformat.v4.new_output("error", ename="CnngradeLimit", evalue=why,
                                               traceback=[why])]

    def _skip_rest(self, index: int) -> None:
        for rest in range(index, len(self.nb.cells)):
            if self.nb.cells[rest].cell_type == "code" and rest not in self.skipped:
                self.skipped[rest] = "not run: the notebook's time limit was reached"
        self.report.problems.append(
            f"the notebook's time limit ({self.limits.notebook_timeout:.0f} s) was reached "
            f"at cell {index + 1}; the cells from there on were not run.")

    # -- the checker's calls ---------------------------------------------------------------
    def run_code(self, code: str, timeout: float) -> list[dict]:
        """Run `code` in the student's kernel and return its outputs (untrusted data)."""
        if self.client is None:   # a previous call killed the kernel: rebuild its state
            self._replay()
        assert self.client is not None
        cell = nbformat.v4.new_code_cell(code)
        self.nb.cells.append(cell)
        self.client.timeout = int(max(1, timeout))
        # a checker call's answer (arrays as .npy text) may be larger than a cell's output
        self.client.output_cap = max(self.limits.output_size, ANSWER_OUTPUT_CAP)
        try:
            self.client.execute_cell(cell, len(self.nb.cells) - 1, store_history=False)
        except CellTimeoutError:
            self._stop()
            raise KernelGone(f"it did not finish within {timeout:.0f} s") from None
        except DeadKernelError:
            self._stop()
            raise KernelGone("it killed the Python kernel (it exited, crashed or ran out of "
                             "memory)") from None
        finally:
            if self.client is not None:
                self.client.output_cap = self.limits.output_size
            self.nb.cells.pop()
        return list(cell.outputs)
