"""The sandbox's wall tests run again as an unprivileged user, when the suite runs as root.

As root the kernel runs as a uid of its own (walls.sandbox_uid) and bwrap makes no user
namespace; as a normal user bwrap makes one (--unshare-user) and the kernel keeps the grader's
uid: other code, other walls. A root CI would test only the first; here tests/test_sandbox.py
(and tests/test_walls_sandbox.py where it exists) run as uid/gid 65534 in a subprocess, where
the tests named `test_as_root_*` skip and every other one must pass.
"""

from __future__ import annotations

import ast
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
NOBODY = 65534
FILES = ("tests/test_sandbox.py", "tests/test_walls_sandbox.py")
# a skip of a test not named test_as_root_* that says any of these is about who runs it
ABOUT_THE_USER = ("root", "uid", "user namespace", "unprivileged", "privilege", "normal user")


def as_nobody(*argv: str) -> list[str]:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--",
            *argv]


def _traversable(folder: Path) -> bool:
    """Whether any user may pass through `folder` (not minding the folders above it)."""
    return bool(folder.stat().st_mode & stat.S_IXOTH)


def interpreter_view() -> list[str]:
    """A bwrap prefix (run as root: no user namespace, only a mount namespace) that makes this
    interpreter, its packages and the checkout reachable for another user, or [] where they
    are already. A folder no other user may pass through on the way to one of them (a Python
    under /root, mode 0700) is covered by an empty tmpfs, mode 0755, in which only the folders
    on the way to them are bound, read-only, each with its own permissions."""
    needed = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent,
              REPO, *(Path(p) for p in sys.path if p and Path(p).is_dir())}
    covered: dict[Path, set[Path]] = {}   # a closed folder -> what is bound in it
    for path in needed:
        for closed in (p for p in path.parents if not _traversable(p)):
            covered.setdefault(closed, set()).add(closed / path.relative_to(closed).parts[0])
    if not covered:
        return []
    args = ["bwrap", "--dev-bind", "/", "/", "--die-with-parent"]
    for closed, children in sorted(covered.items()):   # outer folders first
        args += ["--perms", "0755", "--tmpfs", str(closed)]
        for child in sorted(children):
            args += ["--ro-bind", str(child), str(child)]
    return args


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


def outcomes(junit: Path) -> dict[str, tuple[str, str, dict[str, str]]]:
    """node id -> (passed, failed or skipped; the skip's reason or the failure; properties)."""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        node = f"{module}.py::{case.get('name')}"
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        outcome, text = "passed", ""
        for kind in ("failure", "error", "skipped"):
            if (child := case.find(kind)) is not None:
                outcome = "skipped" if kind == "skipped" else "failed"
                text = child.get("message", "") or (child.text or "")
                break
        found[node] = (outcome, text, props)
    return found


def test_the_sandboxs_walls_hold_for_an_unprivileged_grader():
    """tests/test_sandbox.py (and tests/test_walls_sandbox.py) as uid 65534, with HOME and
    TMPDIR a fresh folder of its own: the run passes, the tests named test_as_root_* skip (by
    name, for being about root), every other test passes -- test_as_non_root_* included, the
    kernel's uid map recorded by one of them shows a user namespace mapping that one uid."""
    if os.geteuid() != 0:
        pytest.skip("not root: the whole suite already runs as an unprivileged user")
    for tool in ("setpriv", "bwrap"):
        if not shutil.which(tool):
            pytest.skip(f"no {tool} here to run the tests as another user in a sandbox")
    probe = _run(as_nobody("bwrap", "--unshare-user", "--unshare-pid", "--unshare-net",
                           "--ro-bind", "/", "/", "true"), timeout=300)
    if probe.returncode != 0:
        pytest.skip("unprivileged user namespaces are not available here (bwrap --unshare-user "
                    f"as uid {NOBODY}: {probe.stderr.strip()[:200]})")
    view = interpreter_view()
    base = Path(tempfile.gettempdir())
    # short: a kernel's ipc sockets lie below TMPDIR, and a socket's path has at most 107 bytes
    home = Path(tempfile.mkdtemp(prefix="cnngrade-nr-",
                                 dir=base if all(map(_traversable, (base, *base.parents)))
                                 else "/tmp"))
    try:
        os.chown(home, NOBODY, NOBODY)
        os.chmod(home, 0o700)
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
               "HOME": str(home), "TMPDIR": str(home), "USER": "nobody", "LOGNAME": "nobody",
               "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
               **{k: v for k, v in os.environ.items() if k.startswith("CNNGRADE_")}}
        reachable = _run(view + as_nobody(sys.executable, "-c", "import cnngrade, nbclient"),
                         env=env, cwd=REPO, timeout=300)
        assert reachable.returncode == 0, ("this Python is not usable by uid 65534",
                                           view, reachable.stderr[-2000:])
        files = [f for f in FILES if (REPO / f).is_file()]
        junit = home / "junit.xml"
        argv = view + as_nobody(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                                "-rs", "-o", "junit_family=xunit1", f"--junitxml={junit}",
                                f"--basetemp={home / 't'}", *files)
        # no tight limit: the files take a minute or two, more on a busy machine
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=1800)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            pytest.fail(f"the unprivileged run did not end in 30 minutes:\n{output[-4000:]}")
        assert proc.returncode == 0, output[-6000:]
        got = outcomes(junit)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    assert {node.split("::")[0] for node in got} == set(files), got
    def name(node: str) -> str:
        return node.split("::")[1].split("[")[0]
    root_only = {n: got[n] for n in got if name(n).startswith("test_as_root_")}
    others = {n: got[n] for n in got if n not in root_only}
    assert root_only, "no test_as_root_* test was collected"
    wrong = {n: o[:2] for n, o in root_only.items()
             if o[0] != "skipped" or "root" not in o[1].lower()}
    assert not wrong, f"test_as_root_* tests that did not skip for being about root: {wrong}"
    # every other test ran and passed; a skip only for what the machine lacks (memory, a GPU),
    # never for who runs it
    wrong = {n: o[:2] for n, o in others.items() if o[0] == "failed" or (
        o[0] == "skipped" and (name(n).startswith("test_as_non_root_")
                               or any(w in o[1].lower() for w in ABOUT_THE_USER)))}
    assert not wrong, f"tests that did not pass as uid {NOBODY}: {wrong}"
    passed = {n for n, o in others.items() if o[0] == "passed"}
    assert {f"{FILES[0]}::test_sandbox_is_bubblewrap_here", f"{FILES[0]}::test_walls",
            f"{FILES[0]}::test_no_process_of_a_sandbox_outlives_its_kernel"} <= passed, got
    non_root = {n for n in others if name(n).startswith("test_as_non_root_")}
    assert len(non_root) >= 3 and non_root <= passed, got
    # the kernel really was in a user namespace of its own: one uid mapped, 65534 to 65534 as
    # the host sees it (not the host's 0 0 4294967295)
    props = got[f"{FILES[0]}::test_as_non_root_the_kernel_has_the_graders_uid_only_in_a_user_"
                "namespace_of_its_own"][2]
    assert props["uid_map_inside"].split()[0::2] == [str(NOBODY), "1"], props
    host_maps = ast.literal_eval(props["uid_maps_from_host"])
    assert host_maps and all(m.split() == [str(NOBODY), str(NOBODY), "1"] for m in host_maps)
