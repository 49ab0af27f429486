"""The submission's own work, measured: the CPU time of a sandboxed kernel's whole process tree,
and a watch that stops a cell or a checker call once it has computed for longer than its limit.

CPU time does not grow when other work shares the machine (a second worker, a CPU hog), so a
limit counted in CPU seconds gives the same verdict on a busy machine as on an idle one; the
wall-clock limits stay as a generous backstop for cells that sleep or wait forever, which use
no CPU at all.

The tree is read from /proc: every process whose chain of parents leads to the sandbox's first
process (bubblewrap, unshare or env), with the user and system time of its threads and of the
children it has reaped (`utime + stime + cutime + cstime` of /proc/<pid>/stat). A process that
exits is counted in its parent's `cutime` once reaped, so the sum only grows. Where /proc is not
there (not Linux), `available()` is False and the limits are counted on the wall clock.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")
POLL_SECONDS = 0.25


def available() -> bool:
    """True where the CPU time of another process tree can be read (Linux /proc)."""
    return (PROC / "self" / "stat").is_file()


def _ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return 100


TICKS = _ticks()


def _read_stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, CPU ticks of the process and its reaped children), or None if gone."""
    try:
        text = (PROC / pid / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after the last ')'
    fields = text[text.rfind(")") + 2:].split()
    try:
        ppid = int(fields[1])
        ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    except (IndexError, ValueError):
        return None
    return ppid, ticks


def _tree(root: int) -> dict[int, int]:
    """pid -> CPU ticks, for `root` and every process below it."""
    stats: dict[int, tuple[int, int]] = {}
    try:
        names = os.listdir(PROC)
    except OSError:
        return {}
    for name in names:
        if name.isdigit():
            stat = _read_stat(name)
            if stat is not None:
                stats[int(name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, int] = {}
    todo = [root] if root in stats else []
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found[pid] = stats[pid][1]
        todo += children.get(pid, [])
    return found


def tree_seconds(root: int) -> float:
    """CPU seconds used so far by `root`'s process tree (0 when it is gone)."""
    return sum(_tree(root).values()) / TICKS


def kill_tree(root: int) -> None:
    """SIGKILL `root` and every process below it (the sandbox's pid namespace dies with it)."""
    for pid in sorted(_tree(root), key=lambda p: p != root):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class CpuWatch:
    """While in use, stops the process tree of `root` once it has used `limit` CPU seconds
    beyond what it had used on entry. Afterwards `used` is the CPU seconds spent inside and
    `fired` says whether the watch stopped it. With `root` None (no /proc, or no process),
    it only ever reports 0 and never fires."""

    def __init__(self, root: int | None, limit: float,
                 on_fire: Callable[[int], None] = kill_tree):
        self.root = root if available() else None
        self.limit = limit
        self.on_fire = on_fire
        self.used = 0.0
        self.fired = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._base = 0.0

    def __enter__(self) -> CpuWatch:
        if self.root is not None:
            self._base = tree_seconds(self.root)
            self._thread = threading.Thread(target=self._watch, daemon=True,
                                            name="cnngrade-cpu-watch")
            self._thread.start()
        return self

    def _watch(self) -> None:
        assert self.root is not None
        while not self._stop.wait(POLL_SECONDS):
            tree = _tree(self.root)
            if not tree:
                return
            if sum(tree.values()) / TICKS - self._base > self.limit:
                self.fired = True
                self.on_fire(self.root)
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            spent = tree_seconds(self.root) - self._base if self.root is not None else 0.0
            # a killed tree may read less than it used: it used at least its limit
            self.used = max(self.limit, spent) if self.fired else max(0.0, spent)
