"""A Jupyter kernel started inside the sandbox, talking over Unix sockets (ipc transport) through
a relay that caps what the kernel may send back before the grader receives it
(cnngrade.sandbox.relay), and an nbclient client that keeps at most a cell's cap of output."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import nbformat
import zmq
from jupyter_client import AsyncKernelManager
from jupyter_client.connect import write_connection_file
from nbclient import NotebookClient
from traitlets import Instance, Integer

from .walls import SandboxPlan, wrap

RELAY = Path(__file__).with_name("relay.py")
# what a checker call's answer may send back (arrays as .npy text): more than a cell's output
ANSWER_OUTPUT_CAP = 96 * 1024 * 1024


def relay_folder(plan: SandboxPlan) -> Path:
    """The grader's side of the relay: beside the sandbox's socket folder, not bound into it."""
    return plan.sockets.with_name("relay")


def stopped_by_relay(plan: SandboxPlan, *, clear: bool = False) -> str:
    """Why the relay stopped the kernel (one clause, e.g. "it sent a message ... larger than the
    grader accepts (97 MiB)"), or "" where it did not."""
    path = relay_folder(plan) / "stopped"
    try:
        why = path.read_text()[:300]
        if clear:
            path.unlink()
        return why
    except OSError:
        return ""


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel command wrapped by `cnngrade.sandbox.walls.wrap`, behind the relay:
    the kernel binds its sockets in the sandbox's folder (its own connection file), the relay
    connects there and binds the sockets this manager's clients connect to."""

    plan = Instance(SandboxPlan, allow_none=True)
    relay_cap = Integer(2 * 1024 * 1024)   # the output cap of the grader's next request

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        assert self.plan is not None
        outer_file = os.path.realpath(self.connection_file)
        inner_file = str(self.plan.sockets / "kernel.json")
        argv = [inner_file if arg == outer_file else arg
                for arg in super().format_kernel_cmd(extra_arguments)]
        _, inner = write_connection_file(
            inner_file, ip=str(self.plan.sockets / "kernel"), transport="ipc",
            key=self.session.key, signature_scheme=self.session.signature_scheme,
            kernel_name=self.kernel_name, **{f"{c}_port": getattr(self, f"{c}_port")
                                             for c in ("shell", "iopub", "stdin", "hb",
                                                       "control")})
        # The kernel runs as the sandbox's uid and must read its own connection file.
        if os.geteuid() == 0:
            os.chown(inner_file, self.plan.uid, self.plan.uid)
        outer = {k: (v.decode() if isinstance(v, bytes) else v)
                 for k, v in self.get_connection_info().items()}
        config = {"inner": inner, "outer": outer, "control": self._control_url(),
                  "output_cap": self.relay_cap, "max_cap": ANSWER_OUTPUT_CAP,
                  "memory": max(1536 * 1024**2, 12 * ANSWER_OUTPUT_CAP), "grader": os.getpid()}
        config_file = relay_folder(self.plan) / "relay.json"
        config_file.write_text(json.dumps(config))
        stopped_by_relay(self.plan, clear=True)
        return [sys.executable, str(RELAY), str(config_file), "--", *wrap(argv, self.plan)]

    def _control_url(self) -> str:
        assert self.plan is not None
        return f"ipc://{relay_folder(self.plan) / 'control'}"

    def set_relay_cap(self, cap: int) -> None:
        """The output cap of the grader's next request, in force in the relay before this
        returns (or the relay is gone, and with it the kernel)."""
        self.relay_cap = cap
        process = getattr(self.provisioner, "process", None)
        if process is None or process.poll() is not None:
            return   # not started yet: the relay's configuration carries it
        sock = zmq.Context.instance().socket(zmq.REQ)
        sock.linger = 0
        try:
            sock.connect(self._control_url())
            sock.send(b"cap %d" % cap)
            while not sock.poll(1000):   # as long as the relay lives, however busy
                if process.poll() is not None:
                    return
            sock.recv()
        finally:
            sock.close()


def new_kernel_manager(plan: SandboxPlan) -> SandboxedKernelManager:
    km = SandboxedKernelManager(kernel_name="python3", plan=plan)
    km.transport = "ipc"
    folder = relay_folder(plan)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    km.ip = str(folder / "kernel")
    km.connection_file = str(folder / "kernel.json")
    # the relay drops replayed and forged messages; a replay must not raise in the grader
    km.session.digest_history_size = 0
    return km


class CappedNotebookClient(NotebookClient):
    """nbclient's client, keeping at most `output_cap` bytes of output per cell; the rest is
    dropped with one note, so a student printing gigabytes cannot exhaust the grader."""

    _output_cap = 2 * 1024 * 1024

    @property
    def output_cap(self) -> int:
        return self._output_cap

    @output_cap.setter
    def output_cap(self, cap: int) -> None:
        """Also the relay's cap for what the kernel sends in answer to the next request."""
        self._output_cap = cap
        if isinstance(self.km, SandboxedKernelManager):
            self.km.set_relay_cap(cap)

    async def async_execute_cell(self, *args: Any, **kwargs: Any) -> Any:
        self._output_used: dict[int, int] = {}   # one cell at a time: count afresh
        return await super().async_execute_cell(*args, **kwargs)

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
        used = getattr(self, "_output_used", None)
        if used is None:
            used = self._output_used = {}
        key = id(outs)
        if used.get(key, 0) < 0:  # this cell is already over its cap
            return None
        total = used.get(key, 0) + len(json.dumps(msg.get("content", {}), default=str))
        if total > self.output_cap:
            used[key] = -1
            outs.append(nbformat.v4.new_output(
                "stream", name="stderr",
                text=f"\n[cnngrade: output beyond {self.output_cap // 1024} KiB was dropped]\n"))
            return None
        used[key] = total
        return super().output(outs, msg, display_id, cell_index)
