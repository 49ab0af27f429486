"""The untrusted side's walls: the command line that starts a student's kernel.

bubblewrap where it works (own user, pid, ipc, uts and network namespaces; a read-only view of
the Python installation; a fresh scratch home as the only writable place), else `unshare` (no
network, own pid namespace, but the file system stays visible), and rlimits in both cases
(address space, processes, file size, open files, CPU time). As root, the kernel also runs as an
unprivileged uid so the process limit applies.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..course.config import Limits
from .gpu_share import GpuShare, gpu_environment
from .machine import machine_cores

HOME = "/home/student"
UID_BASE = 61000
# What a Python kernel needs from /etc, read-only; the rest of /etc stays out.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
             "passwd", "group", "ssl", "alternatives", "fonts", "mime.types")


@dataclass(frozen=True)
class SandboxPlan:
    """Everything needed to wrap one kernel command."""

    scratch: Path          # the only writable directory, seen as /home/student
    sockets: Path          # the ipc socket folder, bound at the same path inside
    limits: Limits
    gpu: bool = False
    # read-only public data: (path here, path below the kernel's ~/.keras, e.g.
    # "datasets/fashion-mnist" or "models/vgg16_..._notop.h5")
    data: tuple[tuple[Path, str], ...] = ()
    # CPU threads the kernel's maths libraries may use: the runner's share of the cores
    # (cnngrade.grading.worker_plan); None: the assignment's `threads` (0: every core)
    threads: int | None = None
    keras_backend: str = "tensorflow"   # KERAS_BACKEND in the kernel
    # the kernel's share of its GPU (cnngrade.sandbox.gpu_share), for a GPU kernel
    gpu_share: GpuShare | None = None
    # which of its grading process's two sandbox uids the kernel runs as (as root): a kernel
    # started ahead (warm kernels) takes the other seat from the one running beside it, so the
    # two never share a process limit, files or signals
    seat: int = 0

    @property
    def uid(self) -> int:
        """The uid the kernel runs as (see sandbox_uid)."""
        return sandbox_uid(self.seat)


@functools.lru_cache(maxsize=1)
def sandbox_kind() -> str:
    """'bwrap', 'unshare' or 'none': the strongest sandbox that really starts on this machine."""
    forced = os.environ.get("CNNGRADE_SANDBOX")
    if forced in {"bwrap", "unshare", "none"}:
        return forced
    if shutil.which("bwrap") and _works(_bwrap_base() + ["--ro-bind", "/", "/", "true"]):
        return "bwrap"
    if shutil.which("unshare") and _works(_unshare_base() + ["true"]):
        return "unshare"
    return "none"


def _works(argv: list[str]) -> bool:
    try:
        # generous: on a busy machine a slow probe must not weaken the sandbox
        return subprocess.run(argv, capture_output=True, timeout=300).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _drop_privileges(uid: int) -> list[str]:
    """As root, the kernel itself runs as the unprivileged `uid` (so RLIMIT_NPROC applies)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return []
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--"]


def sandbox_uid(seat: int = 0) -> int:
    """The uid a kernel runs as when the grader is root: two per grading process (the running
    kernel's seat and the one started ahead of the next submission), so the process limit and
    file ownership of concurrent sandboxes never mix."""
    return UID_BASE + (os.getpid() % 2000) * 2 + seat % 2 if os.geteuid() == 0 else os.getuid()


def _bwrap_base() -> list[str]:
    # As root, bwrap needs no user namespace (and one would map only uid 0, so the kernel could
    # not drop to its own uid); as a normal user it makes one.
    users = [] if os.geteuid() == 0 else ["--unshare-user"]
    return ["bwrap", *users, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session"]


def _unshare_base() -> list[str]:
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user, "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


# Where util-linux's prlimit is missing (macOS), the same limits set by this Python before it
# becomes the kernel: each limit the system refuses (macOS has no enforced RLIMIT_AS) is skipped.
_SET_LIMITS = """import os, resource, sys
for name, value in zip(("RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE",
                        "RLIMIT_CPU", "RLIMIT_CORE"), map(int, sys.argv[1:7])):
    try:
        resource.setrlimit(getattr(resource, name), (value, value))
    except (AttributeError, ValueError, OSError):
        pass
os.execvp(sys.argv[7], sys.argv[7:])
"""


def _rlimits(limits: Limits) -> list[str]:
    # a last resort per process: the CPU watch (cnngrade.sandbox.cputime) stops cells long before
    cpu = int(limits.notebook_timeout * 2) + 60
    if shutil.which("prlimit"):
        return ["prlimit", f"--as={limits.memory}", f"--nproc={limits.processes}",
                f"--fsize={limits.file_size}", "--nofile=1024", f"--cpu={cpu}", "--core=0", "--"]
    return [sys.executable, "-I", "-c", _SET_LIMITS, str(limits.memory), str(limits.processes),
            str(limits.file_size), "1024", str(cpu), "0"]


def _python_roots() -> list[Path]:
    """Folders that hold this Python, its standard library and its packages: the prefixes, and
    any package folder on sys.path outside them (a `pip install --user`, a `.pth` file pointing
    at another environment's site-packages)."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent}
    roots |= {Path(p) for p in sys.path if Path(p).name in ("site-packages", "dist-packages")
              and Path(p).is_dir()}
    return sorted(p for p in roots if p.exists())


def _grader_secrets() -> list[Path]:
    """Folders of the grader's own package that hold hidden material (the suites), where they
    lie inside a folder bound into the sandbox (a non-editable install in site-packages); each
    is covered by an empty tmpfs."""
    suites = Path(__file__).resolve().parents[1] / "suites"   # autograder/suites
    return [suites] if suites.is_dir() and any(
        root in suites.parents for root in _python_roots()) else []


def _system_binds() -> list[str]:
    args: list[str] = []
    for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC_FILES:
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _parents(path: Path, made: set[Path]) -> list[str]:
    """bwrap makes missing parent folders mode 0700; make them 0755 so the kernel's uid can
    pass through them to what is bound below."""
    args: list[str] = []
    for parent in reversed(path.parents[:-1]):  # outermost first, without "/"
        if parent not in made and parent != Path("/tmp"):
            made.add(parent)
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _gpu_devices() -> list[str]:
    args = []
    for dev in sorted(Path("/dev").glob("nvidia*")) + [Path("/dev/dri")]:
        if dev.exists():
            args += ["--dev-bind", str(dev), str(dev)]
    return args


def kernel_environment(plan: SandboxPlan) -> dict[str, str]:
    """The kernel's whole environment: nothing of the grader's is passed through."""
    env = {
        "HOME": HOME if sandbox_kind() == "bwrap" else str(plan.scratch),
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **_thread_settings(plan.threads if plan.threads else plan.limits.threads),
        "JUPYTER_PLATFORM_DIRS": "1",
        "KERAS_BACKEND": plan.keras_backend,
        "KERAS_HOME": (f"{HOME}/.keras" if sandbox_kind() == "bwrap"
                       else str(plan.scratch / ".keras")),
    }
    if not plan.gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    if plan.gpu and plan.gpu_share is not None:
        env.update(gpu_environment(plan.gpu_share, plan.keras_backend))
    return env


def _thread_settings(threads: int) -> dict[str, str]:
    """How many CPU threads the kernel's NumPy/TensorFlow may use (0: all cores)."""
    count = str(threads if threads > 0 else machine_cores())
    count = os.environ.get("CNNGRADE_KERNEL_THREADS", count)
    return {"OMP_NUM_THREADS": count, "OPENBLAS_NUM_THREADS": count, "MKL_NUM_THREADS": count,
            "TF_NUM_INTRAOP_THREADS": count,
            "TF_NUM_INTEROP_THREADS": str(min(2, max(1, int(count)))) if count.isdigit() else "2"}


def data_target(rel: str) -> str:
    return f"{HOME}/.keras/{rel}"


def wrap(argv: list[str], plan: SandboxPlan) -> list[str]:
    """`argv` (the kernel command) wrapped in the sandbox and the resource limits."""
    kind = sandbox_kind()
    env = kernel_environment(plan)
    if kind == "bwrap":
        # /tmp first: the Python installation or the sockets may live below it.
        # RAM-backed folders the kernel may write: world-writable like a real /tmp (the kernel
        # runs as its own uid) and no larger than the file-size limit allows one file to be,
        # so filling them cannot take the host's memory.
        tmp_size = str(max(64 * 1024**2, plan.limits.file_size))
        args = _bwrap_base() + _system_binds() + ["--perms", "1777", "--size", tmp_size,
                                                  "--tmpfs", "/tmp"]
        made: set[Path] = set()
        for root in _python_roots():
            args += _parents(root, made) + ["--ro-bind", str(root), str(root)]
        for secret in _grader_secrets():   # e.g. hidden suites installed beside the package
            args += ["--tmpfs", str(secret)]
        # /dev/shm: Python's multiprocessing locks (Keras's data loaders) need it
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", tmp_size,
                 "--tmpfs", "/dev/shm",
                 "--perms", "0755", "--dir", "/home", "--bind", str(plan.scratch), HOME]
        for source, rel in plan.data:   # mount points were made by prepare_dirs
            args += ["--ro-bind", str(source), data_target(rel)]
        args += _parents(plan.sockets, made) + ["--bind", str(plan.sockets), str(plan.sockets)]
        if plan.gpu:
            args += _gpu_devices()
        # the sandbox's own root (a tmpfs bwrap made, with /etc and /home in it) read-only: in
        # a user namespace (a grader not root) bwrap makes it the kernel's own uid's, writable
        # and unbounded (RAM); the mounts below it (/tmp, /dev/shm, the home) stay as they are
        args += ["--remount-ro", "/"]
        args += ["--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        args += ["--chdir", HOME, "--"]
        return args + _drop_privileges(plan.uid) + _rlimits(plan.limits) + argv
    prefix = ["env", "-i", *(f"{k}={v}" for k, v in env.items())]
    if kind == "unshare":
        return _unshare_base() + _drop_privileges(plan.uid) + prefix + _rlimits(plan.limits) + argv
    return prefix + _rlimits(plan.limits) + argv


def prepare_dirs(plan: SandboxPlan) -> None:
    """Create the scratch home and socket folder, owned by the sandbox's uid, and the public
    data: mount points for bubblewrap's read-only binds, or copies where there is no bwrap."""
    datasets = plan.scratch / ".keras" / "datasets"
    for path in (plan.scratch, plan.sockets, plan.scratch / ".keras", datasets):
        path.mkdir(parents=True, exist_ok=True)
        _own(path, plan.uid)
        os.chmod(path, 0o700 if path in (plan.scratch, plan.sockets) else 0o755)
    bind = sandbox_kind() == "bwrap"
    for source, rel in plan.data:
        target = plan.scratch / ".keras" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            if bind:
                target.mkdir(exist_ok=True)
            else:
                shutil.copytree(source, target, dirs_exist_ok=True)
        elif bind:
            target.touch()
        else:
            shutil.copyfile(source, target)


def _own(path: Path, uid: int) -> None:
    if os.geteuid() == 0:
        os.chown(path, uid, uid)
