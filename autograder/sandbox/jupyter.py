"""A Jupyter kernel started inside the sandbox, talking over Unix sockets (ipc transport), and an
nbclient client that caps what the kernel may send back."""

from __future__ import annotations

import json
import os
from typing import Any

import nbformat
from jupyter_client import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import Instance

from .walls import SandboxPlan, sandbox_uid, wrap


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel command wrapped by `cnngrade.sandbox.walls.wrap`."""

    plan = Instance(SandboxPlan, allow_none=True)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return wrap(super().format_kernel_cmd(extra_arguments), self.plan)

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        # The kernel runs as the sandbox's uid and must read its own connection file.
        if os.geteuid() == 0 and self.connection_file:
            uid = self.plan.uid if self.plan else sandbox_uid()
            os.chown(self.connection_file, uid, uid)


def new_kernel_manager(plan: SandboxPlan) -> SandboxedKernelManager:
    km = SandboxedKernelManager(kernel_name="python3", plan=plan)
    km.transport = "ipc"
    km.ip = str(plan.sockets / "kernel")
    km.connection_file = str(plan.sockets / "kernel.json")
    return km


class CappedNotebookClient(NotebookClient):
    """nbclient's client, keeping at most `output_cap` bytes of output per cell; the rest is
    dropped with one note, so a student printing gigabytes cannot exhaust the grader."""

    output_cap = 2 * 1024 * 1024

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
