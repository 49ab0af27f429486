"""The walls of the sandbox, probed from inside a real kernel."""

from __future__ import annotations

import ast
import errno
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import host_addresses, listener, outlived, sandbox_processes

from cnngrade.course.config import Limits
from cnngrade.sandbox.student_kernel import StudentKernel
from cnngrade.sandbox.walls import UID_BASE, sandbox_kind

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent

# Who the grader is decides some walls: as root the kernel runs as a uid of its own
# (walls.sandbox_uid, through setpriv) and bwrap makes no user namespace; as a normal user bwrap
# makes one (--unshare-user) and the kernel keeps the grader's uid. A test of one of the two is
# named so; tests/test_non_root.py runs this file again as an unprivileged user when the suite
# runs as root, so both kinds run on a root CI.
ROOT = os.geteuid() == 0
as_root = pytest.mark.skipif(
    not ROOT, reason="only as root: only a root grader runs its kernels as a uid of their own "
                     "(walls.sandbox_uid); as a normal user the kernel keeps the grader's uid")
as_non_root = pytest.mark.skipif(
    ROOT, reason="only as a normal user: only then does bwrap make the kernel a user namespace "
                 "(--unshare-user); tests/test_non_root.py runs this file as one")


def run(cells: list[str], limits: Limits | None = None) -> tuple[list[list[str]], list[str]]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in cells]
    limits = limits or Limits(cell_timeout=20, notebook_timeout=120, memory=1024**3,
                              processes=32, file_size=1024**2)
    with StudentKernel(nb, limits) as kernel:
        report = kernel.run_notebook()
    texts = [[o.get("text", "") or o.get("evalue", "") for o in c.outputs] for c in nb.cells]
    return texts, report.problems


def test_sandbox_is_bubblewrap_here():
    # make test installs bubblewrap; if this fails the other walls below are weaker
    assert sandbox_kind() == "bwrap"


def test_walls():
    secret = REPO / "autograder" / "suites"
    out, problems = run([
        "import os, socket\nprint(os.getuid() != 0, os.getcwd())",
        f"print(os.path.exists({str(secret)!r}), os.path.exists({str(REPO / 'tests')!r}))",
        "open('here.txt', 'w').write('ok'); print(open('here.txt').read())",
        "for p in ['/usr/evil', '/etc/evil', '/evil']:\n"
        "    try:\n        open(p, 'w')\n        print('WROTE', p)\n"
        "    except OSError:\n        print('denied')",
        "try:\n    socket.getaddrinfo('pypi.org', 443)\n    print('DNS WORKS')\n"
        "except OSError:\n    print('no dns')",
        "try:\n    open('big.bin', 'wb').write(b'x' * 4 * 1024**2)\n    print('BIG FILE')\n"
        "except OSError as e:\n    print('file size limit')",
    ])
    assert out[0] == ["True /home/student\n"]
    assert out[1] == ["False False\n"]
    assert out[2] == ["ok\n"]
    assert out[3] == ["denied\ndenied\ndenied\n"]
    assert out[4] == ["no dns\n"]
    assert out[5] == ["file size limit\n"]


def test_no_network_reaches_a_listener_on_the_host():
    """Real listeners of the grader's, on loopback and on the machine's own address, which any
    process outside the network namespace reaches: the kernel reaches neither (on loopback it
    finds only its own empty one; the machine's address has no route in an empty namespace)."""
    # (a machine with loopback only is still probed there, which tells the namespace apart)
    targets = [("127.0.0.1", "loopback")] + [(a, "host") for a in host_addresses()[:1]]
    servers = [listener(host) for host, _ in targets]
    try:
        for server in servers:   # the listeners work, from here
            with socket.create_connection(server.getsockname(), timeout=5):
                pass
            server.setblocking(True)
            server.settimeout(5)
            server.accept()[0].close()
            server.setblocking(False)
        probes = [f"import socket\ns = socket.socket()\ns.settimeout(5)\n"
                  f"try:\n    s.connect({server.getsockname()!r})\n    print('CONNECTED')\n"
                  f"except OSError as e:\n    print('refused', e.errno)"
                  for server in servers]
        out, problems = run(probes)
        for (host, kind), server, got in zip(targets, servers, out, strict=True):
            assert got and got[0].startswith("refused"), (host, got)
            if kind == "host":
                assert got == [f"refused {errno.ENETUNREACH}\n"], (host, got)
            with pytest.raises(BlockingIOError):   # nothing came in
                server.accept()
    finally:
        for server in servers:
            server.close()


def test_the_kernel_sees_only_its_own_processes():
    """Its own pid namespace: /proc lists the sandbox's init, the kernel and the kernel's own
    children, and none of the grader's processes (this one included)."""
    out, problems = run([
        "import os, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "def listing():\n    seen = {}\n    for p in os.listdir('/proc'):\n"
        "        if p.isdigit():\n            try:\n"
        "                seen[int(p)] = open(f'/proc/{p}/cmdline', 'rb').read()"
        ".replace(bytes(1), b' ').decode()[:200]\n"
        "            except OSError:\n                seen[int(p)] = '?'\n    return seen\n"
        "seen = listing()\nchild.kill(); child.wait()\n"
        "print(repr((os.getpid(), child.pid, seen)))"])
    assert problems == [] and len(out[0]) == 1, (out, problems)
    kernel, child, seen = ast.literal_eval(out[0][0])
    assert kernel in seen and child in seen
    assert len(seen) <= 4, seen   # init (bwrap), the kernel, its child (and a zombie at most)
    assert os.getpid() not in seen   # the grader (this pytest) is not there
    assert not any("pytest" in cmd for cmd in seen.values()), seen
    here = {int(p) for p in os.listdir("/proc") if p.isdigit()}
    assert len(here) > len(seen)   # the grader's view is wider: a namespace, not an idle box


def test_fork_bomb_is_contained():
    out, problems = run([
        "import os, time\nkids = 0\n"
        "try:\n    for _ in range(500):\n        if os.fork() == 0:\n            time.sleep(30)\n"
        "            os._exit(0)\n        kids += 1\nexcept OSError:\n    pass\nprint(kids < 100)",
        "print('still here')",
    ])
    assert out[0] == ["True\n"]
    assert out[1] == ["still here\n"]


def _memory_available() -> int:
    """Bytes this machine could still give one process (MemAvailable), 0 where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def test_memory_limit():
    """1.5 GiB of address space: 256 MiB (used, page by page) is granted; 3 GiB, which this
    machine has free, is refused by the limit alone -- without `prlimit --as` the kernel gets it
    and the test fails. (A 30 GiB allocation would prove nothing: most machines refuse that with
    no limit at all.)"""
    big = 3 * 1024**3
    if _memory_available() < big + 2 * 1024**3:
        pytest.skip("this machine has not the memory to tell the limit from its own refusal")
    limits = Limits(cell_timeout=30, notebook_timeout=120, memory=3 * 1024**3 // 2,
                    processes=32, file_size=1024**2)
    out, problems = run([
        "import numpy as np\nsmall = np.ones(256 * 2**20, dtype=np.uint8)\n"
        "print('granted', int(small[::4096].sum()) == 256 * 2**20 // 4096)\ndel small",
        f"try:\n    big = np.ones({big}, dtype=np.uint8)   # np.ones writes every page\n"
        "    print('GRANTED', int(big[::4096].sum()))\n    del big\n"
        "except MemoryError:\n    print('memory error')",
        "print(1 + 1)"], limits)
    assert out[0] == ["granted True\n"]
    # refused: a MemoryError, or a kernel that died of it (the cell is then skipped)
    assert out[1] == ["memory error\n"] or (
        out[1] == [] and any(p.startswith("cell 2 killed the Python kernel") for p in problems)
    ), (out, problems)
    assert out[2] == ["2\n"]


def test_environment_is_not_leaked(monkeypatch):
    monkeypatch.setenv("CNNGRADE_SECRET_TOKEN", "hunter2")
    out, _ = run(["import os\nprint('CNNGRADE_SECRET_TOKEN' in os.environ)"])
    assert out[0] == ["False\n"]
    assert os.environ["CNNGRADE_SECRET_TOKEN"] == "hunter2"


def test_whole_notebook_time_limit_keeps_what_ran():
    # sleeping cells use no CPU time: the notebook's wall-clock backstop (2 x 5 s) stops them
    limits = Limits(cell_timeout=20, notebook_timeout=5, memory=1024**3, processes=32,
                    file_size=1024**2, wall_factor=2)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in
                ["import time\nx = 41\ntime.sleep(3)", "time.sleep(30)", "y = 1"]]
    with StudentKernel(nb, limits) as kernel:
        report = kernel.run_notebook()
        # the cell cut by the deadline and the ones after it are out; the first cell's state
        # is what the checker sees
        outputs = kernel.run_code("print(x + 1, 'y' in globals())", 10)
    assert outputs[0]["text"] == "42 False\n"
    assert report.problems == ["the notebook's wall-clock limit (10 s) was reached at cell 2 "
                               "(its cells slept, waited or were starved of CPU); the cells "
                               "from there on were not run."]
    assert report.wall_stops == report.problems


def test_whole_notebook_cpu_budget_keeps_what_ran():
    # computing cells: the notebook's CPU budget (3 s) stops the loop, however busy the
    # machine (the wall-clock backstop, 100 x 3 s, is far away)
    limits = Limits(cell_timeout=60, notebook_timeout=3, memory=1024**3, processes=32,
                    file_size=1024**2, wall_factor=100)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in
                ["x = 41", "while True:\n    pass", "y = 1"]]
    with StudentKernel(nb, limits) as kernel:
        report = kernel.run_notebook()
        outputs = kernel.run_code("print(x + 1, 'y' in globals())", 10)
    assert outputs[0]["text"] == "42 False\n"
    assert report.problems == ["the notebook's time limit (3 s of computing) was reached at "
                               "cell 2; the cells from there on were not run."]
    assert report.wall_stops == [] and report.cpu_seconds >= 3


def test_private_tmp_does_not_hide_a_python_under_tmp(tmp_path):
    # A checkout (and its .venv) under /tmp must stay visible: /tmp is mounted first.
    from cnngrade.sandbox.walls import SandboxPlan, wrap
    plan = SandboxPlan(scratch=tmp_path / "home", sockets=tmp_path / "sock",
                       limits=Limits())
    argv = wrap(["python"], plan)
    tmpfs = argv.index("--tmpfs")
    assert argv[tmpfs + 1] == "/tmp"
    assert argv.index(sys.prefix) > tmpfs and argv.index(str(plan.sockets)) > tmpfs


def test_many_killing_cells_are_each_skipped():
    out, problems = run(["x = 1"] + ["import os\nos._exit(1)"] * 7 + ["print(x + 1)"])
    assert out[-1] == ["2\n"], (out, problems)
    assert sum("killed the Python kernel" in p for p in problems) == 7, problems


def _hog_and_the_kernel_started_ahead() -> tuple[tuple[str, str], tuple[str, str]]:
    """A hostile kernel holds every thread its process limit allows; the kernel started ahead
    of the next submission boots meanwhile and runs that one's notebook without a problem.
    Returns (uid, user namespace) of each."""
    probe = "import os\nprint(os.getuid(), os.readlink('/proc/self/ns/user'))"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import threading\nheld, ev = [], threading.Event()\n"
        "try:\n    while True:\n        t = threading.Thread(target=ev.wait, daemon=True)\n"
        "        t.start(); held.append(t)\n"
        "except RuntimeError:\n    print('held', len(held) > 0)"),
        nbformat.v4.new_code_cell(probe)]
    limits = Limits(cell_timeout=60, notebook_timeout=200, memory=1024**3, processes=32,
                    file_size=1024**2)
    with StudentKernel(nb, limits) as hog:
        hog.run_notebook()
        assert nb.cells[0].outputs[0]["text"] == "held True\n"
        hog_id = tuple(nb.cells[1].outputs[0]["text"].split())
        hog.start_ahead()   # boots while the hog still holds its threads
        nxt = nbformat.v4.new_notebook()
        nxt.cells = [nbformat.v4.new_code_cell(probe)]
        kernel = StudentKernel.ready(nxt, limits)
        assert kernel._launched   # the spare was taken, not a kernel started now
        with kernel:
            report = kernel.run_notebook()
    assert report.problems == [], report.problems
    return hog_id, tuple(nxt.cells[0].outputs[0]["text"].split())


@as_root
def test_as_root_a_kernel_started_ahead_does_not_share_the_running_ones_process_limit():
    """Warm kernels: the kernel booted for the next student while a hostile one holds every
    thread its uid may have still starts (it runs as the other of its process's two uids), and
    the student after gets a working kernel whatever the spare went through."""
    (hog_uid, _), (uid, _) = _hog_and_the_kernel_started_ahead()
    assert int(uid) not in (int(hog_uid), 0)


@as_non_root
def test_as_non_root_a_kernel_started_ahead_does_not_share_the_running_ones_process_limit():
    """The same, as a normal user: both kernels keep the grader's uid, but each is in a user
    namespace of its own, and the process limit counts a uid's processes per user namespace
    (Linux 5.14 and later), so the hog's threads do not count against the spare's."""
    (hog_uid, hog_ns), (uid, ns) = _hog_and_the_kernel_started_ahead()
    assert int(uid) == int(hog_uid) == os.getuid()
    assert ns != hog_ns and os.readlink("/proc/self/ns/user") not in (ns, hog_ns)


def _status(pid: int) -> dict[str, list[str]]:
    """/proc/<pid>/status: field -> its values."""
    return {key: value.split() for key, _, value in
            (line.partition(":") for line in Path(f"/proc/{pid}/status").read_text()
             .splitlines())}


def _kernels_on_the_host(kernel: StudentKernel) -> list[int]:
    """Host pids of `kernel`'s Python kernel process (and its forks, which share its command
    line); not the relay or bwrap around it."""
    return [pid for (pid, _), (conn, what) in sandbox_processes().items()
            if conn and Path(conn).is_relative_to(kernel._tmp)
            and re.match(r"-?\d+ \d+ \S+ -m ipykernel_launcher -f ", what)]


IDENTITY = ("import os\n"
            "status = dict(line.split(':', 1)\n"
            "              for line in open('/proc/self/status').read().splitlines())\n"
            "print(repr((os.getresuid(), os.getresgid(), os.getgroups(),\n"
            "            [int(status[c], 16) for c in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd',"
            " 'CapAmb')],\n"
            "            open('/proc/self/uid_map').read(), open('/proc/self/gid_map').read(),\n"
            "            os.readlink('/proc/self/ns/user'))))")


def _identity() -> tuple[StudentKernel, tuple, list[tuple[int, dict]]]:
    """What the kernel says of its identity, and what the host sees of its process(es)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(IDENTITY)]
    limits = Limits(cell_timeout=20, notebook_timeout=120, memory=1024**3, processes=32,
                    file_size=1024**2)
    with StudentKernel(nb, limits) as kernel:
        report = kernel.run_notebook()
        assert report.problems == [] and len(nb.cells[0].outputs) == 1, (
            nb.cells[0].outputs, report.problems)
        inside = ast.literal_eval(nb.cells[0].outputs[0]["text"])
        pids = _kernels_on_the_host(kernel)
        assert pids, "the kernel's process was not found on the host"
        outside = [(pid, _status(pid), Path(f"/proc/{pid}/uid_map").read_text(),
                    Path(f"/proc/{pid}/gid_map").read_text(),
                    os.readlink(f"/proc/{pid}/ns/user")) for pid in pids]
    return kernel, inside, outside


@as_root
def test_as_root_the_kernel_runs_as_a_uid_of_its_own():
    """As root the kernel runs as its sandbox uid (walls.sandbox_uid: UID_BASE and up, never
    root's), with no supplementary group and no capability, in the grader's user namespace --
    as the kernel says and as the host sees its process."""
    kernel, inside, outside = _identity()
    uid = kernel.plan.uid
    assert UID_BASE <= uid < UID_BASE + 4000 and uid != os.getuid()
    resuid, resgid, groups, caps, uid_map, _, user_ns = inside
    assert resuid == (uid,) * 3 and resgid == (uid,) * 3 and groups == [], inside
    assert caps == [0] * 5, inside
    assert uid_map.split() == ["0", "0", "4294967295"]   # no user namespace: the host's
    assert user_ns == os.readlink("/proc/self/ns/user")
    for pid, status, *_ in outside:
        assert status["Uid"] == [str(uid)] * 4 and status["Gid"] == [str(uid)] * 4, (pid, status)
        assert status["Groups"] == [], (pid, status)
        assert all(int(status[c][0], 16) == 0 for c in ("CapPrm", "CapEff", "CapBnd")), status


@as_non_root
def test_as_non_root_the_kernel_has_the_graders_uid_only_in_a_user_namespace_of_its_own(
        record_property):
    """As a normal user the kernel keeps the grader's uid (nothing else is the grader's to give)
    but only inside a user namespace of its own (bwrap --unshare-user), which maps that one uid
    and no other: no root in it to become, no capability, and the host sees its process in that
    namespace. (tests/test_non_root.py reads what is recorded here: that the unprivileged run
    really had the kernel in a user namespace.)"""
    _, inside, outside = _identity()
    uid, gid = os.getuid(), os.getgid()
    resuid, resgid, groups, caps, uid_map, gid_map, user_ns = inside
    record_property("uid_map_inside", uid_map)
    record_property("uid_maps_from_host", repr([o[2] for o in outside]))
    assert resuid == (uid,) * 3 and resgid == (gid,) * 3, inside
    assert caps[:3] == [0, 0, 0] and caps[4] == 0, inside   # no capability held or inherited
    # one uid mapped, to a uid that is not root inside; the namespace is not the grader's
    assert len(uid_map.splitlines()) == 1 and uid_map.split()[0::2] == [str(uid), "1"], inside
    assert len(gid_map.splitlines()) == 1 and gid_map.split()[0::2] == [str(gid), "1"], inside
    assert user_ns != os.readlink("/proc/self/ns/user")
    for pid, status, host_uid_map, host_gid_map, ns in outside:
        assert status["Uid"] == [str(uid)] * 4, (pid, status)
        assert host_uid_map.split() == [str(uid), str(uid), "1"], host_uid_map
        assert host_gid_map.split() == [str(gid), str(gid), "1"], host_gid_map
        assert ns == user_ns


@as_non_root
def test_as_non_root_the_process_limit_counts_only_the_sandboxs_own_processes():
    """The process limit (prlimit --nproc) counts the processes of the kernel's uid -- as a
    normal user the grader's own uid -- per user namespace (Linux 5.14 and later): the grader
    holding more processes than the limit takes nothing from the kernel, whose own forks stop
    below the limit all the same. (On an older kernel the grader's processes would count and
    this test fails: there a non-root grader's kernels could not start under their limit.)"""
    limits = Limits(cell_timeout=30, notebook_timeout=120, memory=1024**3, processes=32,
                    file_size=1024**2)
    hogs = [subprocess.Popen(["sleep", "600"]) for _ in range(limits.processes + 8)]
    try:
        out, problems = run([
            "import os, time\nkids = 0\n"
            "try:\n    for _ in range(500):\n        if os.fork() == 0:\n"
            "            time.sleep(30)\n            os._exit(0)\n        kids += 1\n"
            "except OSError:\n    pass\nprint(kids)",
            "print('still here')"], limits)
        assert sum(h.poll() is None for h in hogs) == limits.processes + 8   # held throughout
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert problems == [] and len(out[0]) == 1, (out, problems)
    assert 0 < int(out[0][0]) < limits.processes
    assert out[1] == ["still here\n"]


def test_no_process_of_a_sandbox_outlives_its_kernel():
    """A fork, a daemon in a session of its own that ignores SIGHUP, an orphan (double fork,
    adopted by the sandbox's init) that ignores SIGTERM: the host sees each as the sandbox's
    (conftest.sandbox_processes, as root and not), and none is left once the kernel is stopped.
    """
    before = sandbox_processes()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os, signal, subprocess, time\n"
        "if os.fork() == 0:\n    time.sleep(600)\n    os._exit(0)\n"
        "subprocess.Popen(['sleep', '601'], start_new_session=True,\n"
        "                 preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))\n"
        "middle = os.fork()\n"
        "if middle == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "        os.execvp('sleep', ['sleep', '602'])\n    os._exit(0)\n"
        "os.waitpid(middle, 0)\nprint('started')")]
    limits = Limits(cell_timeout=20, notebook_timeout=120, memory=1024**3, processes=32,
                    file_size=1024**2)
    with StudentKernel(nb, limits) as kernel:
        report = kernel.run_notebook()
        assert report.problems == [] and nb.cells[0].outputs[0]["text"] == "started\n"

        def seen() -> list[str]:
            """'uid pid command' of each of this kernel's processes the host sees"""
            return [what for (conn, what) in sandbox_processes().values()
                    if conn and Path(conn).is_relative_to(kernel._tmp)]
        deadline = time.monotonic() + 120   # an upper bound only: done once both are seen
        while not {"sleep 601", "sleep 602"} <= {w.split(" ", 2)[2] for w in seen()} \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        running = seen()
        commands = [w.split(" ", 2)[2] for w in running]
        assert "sleep 601" in commands and "sleep 602" in commands, running
        assert len(_kernels_on_the_host(kernel)) == 2, running   # the kernel and its fork
        uids = {int(w.split()[0]) for w in running if w.split(" ", 2)[2].startswith("sleep")}
        assert uids == {kernel.plan.uid}, running
        # what `outlived` would report if the kernel were left running
        assert {"sleep 601", "sleep 602"} <= {w.split(" ", 2)[2] for w in outlived(
            before, kernel._tmp, wait=0)}
    assert outlived(before, kernel._tmp) == set()


def test_a_kernel_started_ahead_that_died_is_replaced_by_a_fresh_one():
    """A spare that is gone before its submission arrives (killed, out of memory) costs the
    student nothing: a fresh kernel is started in its place and the notebook runs."""
    limits = Limits(cell_timeout=60, notebook_timeout=200, memory=1024**3, processes=32,
                    file_size=1024**2)
    first = nbformat.v4.new_notebook()
    first.cells = [nbformat.v4.new_code_cell("x = 1")]
    with StudentKernel(first, limits) as kernel:
        kernel.run_notebook()
        kernel.start_ahead()
    nxt = nbformat.v4.new_notebook()
    nxt.cells = [nbformat.v4.new_code_cell("print(40 + 2)")]
    spare = StudentKernel.ready(nxt, limits)
    assert spare._launched   # the spare was taken
    spare.client.km.provisioner.process.kill()   # and is gone before it is connected
    spare.client.km.provisioner.process.wait()
    with spare:
        report = spare.run_notebook()
    assert report.problems == []
    assert nxt.cells[0].outputs[0]["text"] == "42\n"


def test_suites_inside_a_bound_python_folder_are_covered(monkeypatch):
    """Where cnngrade is installed into a folder the sandbox binds (a non-editable install in
    site-packages), its autograder/suites/ lies inside the bind: an empty tmpfs covers it. Here
    the package's own folder is made one of the bound Python folders, as such an install
    would have it; the kernel must see the package's code but not one file of the suites."""
    from cnngrade.sandbox import walls
    package = REPO / "autograder"
    roots = walls._python_roots()
    monkeypatch.setattr(walls, "_python_roots", lambda: sorted({*roots, package}))
    assert walls._grader_secrets() == [package / "suites"]
    hidden = sorted(p.name for p in (package / "suites").iterdir())
    assert "keras-convnet" in hidden
    out, problems = run([
        f"import os\nprint(os.path.isfile({str(package / 'sandbox' / 'walls.py')!r}))",
        f"print(sorted(os.listdir({str(package / 'suites')!r})))",
        f"print(os.path.exists({str(package / 'suites' / 'keras-convnet')!r}))",
    ])
    assert out == [["True\n"], ["[]\n"], ["False\n"]], (out, problems)
