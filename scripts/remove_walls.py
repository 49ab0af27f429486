"""`make walls`: each wall of the sandbox and of the intake removed, one at a time, in a copy of
the tree, and the tests that claim to cover it run there. A wall whose tests all still pass
*survived*: those tests do not notice it is gone. A wall that makes a test fail was *killed*.

For each wall of the table below (WALLS):

1. the working tree's files (`git ls-files --cached --others --exclude-standard`: the tracked
   files and the untracked ones git does not ignore, as they are on disk) are copied into a
   fresh temporary folder;
2. ONE textual replacement is made in one source file of the copy; the text it replaces must
   occur exactly once there, so the table breaks loudly (exit 2, naming the wall) when the code
   moves, and the patched file must still compile;
3. the wall's tests run in the copy with this checkout's `.venv` python, importing the COPY's
   package: the venv's editable install maps `cnngrade` to this checkout's `autograder/`
   through a finder appended to `sys.meta_path`; a `sitecustomize.py` on `PYTHONPATH` puts a
   finder in front of it that maps the packages of the copy's pyproject.toml (`[tool.setuptools]
   package-dir`: `cnngrade` -> `autograder/`, `cnngrade.cli` -> `cli/`) to the copy's folders.
   Processes started with this environment (multiprocessing's spawned workers, a `cnngrade`
   subprocess) import the copy too; a subprocess started with a cleared environment imports
   this checkout's code. Before the tests run, a probe in the same environment checks that
   `cnngrade`, `cnngrade.cli` and the patched module are the copy's files and that the patched
   module holds the replacement;
4. the result is `killed` (a test failed), `survived` (all passed), `untested` (the table
   names no test) or `error` (the tests could not run, e.g. a node id that does not exist, or
   they ran past `--timeout`: slowness proves nothing), with the wall-clock time.

Exit status: 0 when every wall run was killed, 1 otherwise, 2 when the table no longer applies
to the code. Each run's pytest output is kept in `build/walls/<wall>.log`.

    .venv/bin/python scripts/remove_walls.py [--only NAME[,NAME]] [--list] [--markdown]
                                             [--baseline] [--timeout S] [--keep]

Never run the whole table beside other work without looking at the notes first: some removed
walls let the adversarial corpus use several GB of the grader's memory or reach processes of the
same sandbox uid (each wall's `note`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "build" / "walls"

ADVERSARIAL = "tests/test_adversarial.py::test_adversarial_corpus"   # 49 notebooks: 2-10 min
SANDBOX = "tests/test_sandbox.py::"
WALLS_PY = "autograder/sandbox/walls.py"
KERNEL_PY = "autograder/sandbox/student_kernel.py"
ARTIFACTS_PY = "autograder/sandbox/artifacts.py"
WALLS_ARTIFACTS = "tests/test_walls_artifacts.py::"
COLLECT_PY = "autograder/intake/collect.py"
RELAY_PY = "autograder/sandbox/relay.py"
RELAY = "tests/test_relay.py::"


@dataclass(frozen=True)
class Wall:
    """One wall: where it is, the one replacement that removes it, the tests that claim it."""

    name: str
    file: str                 # relative to the repository root
    old: str                  # the text replaced; must occur exactly once in `file`
    new: str                  # what stands there instead
    tests: tuple[str, ...]    # pytest node ids, the quickest first (pytest -x stops at a failure)
    what: str                 # what the wall stops, in one line
    note: str = ""            # why it may survive, or what its removal exposes the machine to


def _bind(expr: str) -> str:
    """walls.wrap's text binding the folder `expr` read-only at its own path, in front of the
    hidden suites' tmpfs loop (the anchor of the `*-out` walls)."""
    return (f"        exposed = {expr}   # wall removed: bound into the sandbox\n"
            "        args += _parents(exposed, made) + "
            "[\"--ro-bind\", str(exposed), str(exposed)]\n"
            + SECRETS_LOOP)


SECRETS_LOOP = ("        for secret in _grader_secrets():   # e.g. hidden suites installed beside "
                "the package\n")

WALLS: tuple[Wall, ...] = (
    # -- rlimits (prlimit) --------------------------------------------------------------------
    Wall("memory-limit", WALLS_PY,
         'return ["prlimit", f"--as={limits.memory}", f"--nproc={limits.processes}",',
         'return ["prlimit", f"--nproc={limits.processes}",',
         (SANDBOX + "test_memory_limit", ADVERSARIAL),
         "address space (prlimit --as): a kernel cannot take the machine's memory",
         "test_memory_limit writes 3 GiB against a 1.5 GiB limit, the corpus's alloc-4gb 4 GiB "
         "against mini's 1 GiB: over the limit, under this machine's memory"),
    Wall("file-size-limit", WALLS_PY,
         'f"--fsize={limits.file_size}", "--nofile=1024",', '"--nofile=1024",',
         (SANDBOX + "test_walls", ADVERSARIAL),
         "file size (prlimit --fsize): one file in the scratch home or the kernel's log",
         "if test_walls passes, the corpus's disk-fill and stdout-fd-10gb write up to 10 GiB "
         "each to the host's disk before their cell's time limit"),
    # -- namespaces and identity --------------------------------------------------------------
    Wall("network-namespace", WALLS_PY,
         '"--unshare-pid", "--unshare-net", "--unshare-uts",',
         '"--unshare-pid", "--unshare-uts",',
         (SANDBOX + "test_no_network_reaches_a_listener_on_the_host", ADVERSARIAL),
         "own network namespace (bwrap --unshare-net): no network, no DNS, no host loopback",
         "the test listens on the host's 127.0.0.1 and own address and requires that the "
         "kernel reaches neither (ENETUNREACH for the latter); DNS probes prove nothing here "
         "(no resolv.conf is bound)"),
    Wall("pid-namespace", WALLS_PY,
         '"--unshare-ipc", "--unshare-pid", "--unshare-net",',
         '"--unshare-ipc", "--unshare-net",',
         (SANDBOX + "test_the_kernel_sees_only_its_own_processes", ADVERSARIAL),
         "own pid namespace (bwrap --unshare-pid): no host process seen or signalled, all of "
         "a kernel's processes die with it",
         "removed, the corpus's kill-everyone sends kill(-1, SIGKILL) as its sandbox uid: it "
         "reaches every host process of that uid (another grading's kernel sharing it)"),
    Wall("uid-switch", WALLS_PY,
         "return UID_BASE + (os.getpid() % 2000) * 2 + seat % 2 if os.geteuid() == 0 "
         "else os.getuid()",
         "return os.getuid()   # wall removed: the kernel keeps the grader's uid",
         (SANDBOX + "test_as_root_the_kernel_runs_as_a_uid_of_its_own", SANDBOX + "test_walls",
          SANDBOX + "test_fork_bomb_is_contained",
          SANDBOX + "test_as_root_a_kernel_started_ahead_does_not_share_the_running_ones_"
          "process_limit"),
         "as root, the kernel runs as an unprivileged uid of its own (so the process limit "
         "applies and the grader's files are not its own)",
         "only the uid is kept (sandbox_uid); setpriv still drops every capability. Only "
         "meaningful when the tests run as root"),
    # -- what the sandbox sees ------------------------------------------------------------------
    Wall("ro-bind-python", WALLS_PY,
         'args += _parents(root, made) + ["--ro-bind", str(root), str(root)]',
         'args += _parents(root, made) + ["--bind", str(root), str(root)]',
         ("tests/test_walls_sandbox.py::"
          "test_a_bound_python_folder_is_read_only_even_where_the_kernels_uid_could_write",
          ADVERSARIAL),
         "the Python installation (prefixes, site-packages) bound read-only",
         "as root the kernel's uid cannot write root's 0755 folders anyway (write-outside's "
         "sitecustomize.py into .venv fails either way), so the test binds a 0777 folder as a "
         "Python folder and requires EROFS there and in site-packages (EACCES when writable)"),
    Wall("ro-bind-system", WALLS_PY,
         '        elif path.is_dir():\n            args += ["--ro-bind", str(path), str(path)]',
         '        elif path.is_dir():\n            args += ["--bind", str(path), str(path)]',
         ("tests/test_walls_sandbox.py::"
          "test_as_root_the_system_folders_are_read_only_even_where_the_kernels_uid_could_write",
          SANDBOX + "test_walls"),
         "/usr, /bin, /lib... bound read-only",
         "the first test makes a 0777 folder in /usr/local (as root) and requires EROFS there: "
         "without one, no uid but root's could write the system folders, bound writable or not; "
         "bound writable, test_walls would write /usr/evil on the HOST where the kernel's uid may"),
    Wall("sandbox-root-read-only", WALLS_PY,
         '        args += ["--remount-ro", "/"]',
         "        pass   # wall removed: the sandbox's own root stays writable",
         ("tests/test_non_root.py::test_the_sandboxs_walls_hold_for_an_unprivileged_grader",),
         "the sandbox's own root (bwrap's tmpfs, with /etc and /home) is read-only: for a grader "
         "that is not root it belongs to the kernel's uid, unbounded RAM",
         "as root the kernel's uid cannot write root's folders there anyway: the test runs the "
         "sandbox's tests as uid 65534, where test_walls writes /etc/evil and /evil without it"),
    Wall("ro-bind-data", WALLS_PY,
         'args += ["--ro-bind", str(source), data_target(rel)]',
         'args += ["--bind", str(source), data_target(rel)]',
         ("tests/test_walls_sandbox.py::"
          "test_the_public_datasets_are_read_only_even_where_the_kernels_uid_could_write",),
         "the public datasets bound read-only below ~/.keras",
         "the test binds a dataset from a 0777 folder (a 0666 file): every write fails with "
         "EROFS, the host's folder is unchanged"),
    Wall("suites-out", WALLS_PY, SECRETS_LOOP,
         _bind('Path(__file__).resolve().parents[1] / "suites"'),
         (SANDBOX + "test_walls", ADVERSARIAL),
         "the hidden suites (the checkout's autograder/suites/) are not in the sandbox"),
    Wall("solutions-out", WALLS_PY, SECRETS_LOOP,
         _bind('Path(__file__).resolve().parents[2] / "solutions"'),
         ("tests/test_walls_sandbox.py::"
          "test_the_reference_solutions_are_not_in_the_sandbox",
          SANDBOX + "test_walls", ADVERSARIAL),
         "the reference solutions (the checkout's solutions/) are not in the sandbox",
         "test_walls looks for suites/ and tests/, the corpus for the suites, the gradebook, "
         "another student and the hidden data; the first test for solutions/ itself (its "
         "path and its parent's listing)"),
    Wall("hidden-data-out", WALLS_PY, SECRETS_LOOP,
         _bind('Path(os.environ.get("CNNGRADE_HIDDEN_DATA", '
               'Path("~/.cnngrade/hidden").expanduser()))'),
         ("tests/test_walls_sandbox.py::"
          "test_the_hidden_data_folder_is_not_in_the_sandbox", ADVERSARIAL),
         "the hidden data folder (~/.cnngrade/hidden) is not in the sandbox",
         "the real folder is mode 0700 (cnngrade data prepare): bound, the kernel's uid still "
         "cannot enter it when the grader is root; the test points CNNGRADE_HIDDEN_DATA at a "
         "0755 folder with a readable file"),
    Wall("held-back-fashion", "autograder/course/data.py",
         'binds.append((cut if cut.is_dir() else self.fashion, "datasets/fashion-mnist"))',
         'binds.append((self.fashion, "datasets/fashion-mnist"))',
         ("tests/test_data.py::test_the_sandbox_gets_half_of_fashion_mnists_test_split",),
         "the sandbox's Fashion-MNIST lacks the held-back test images the grader judges on"),
    Wall("suites-tmpfs", WALLS_PY,
         'args += ["--tmpfs", str(secret)]',
         "pass   # wall removed: installed suites stay visible",
         (SANDBOX + "test_suites_inside_a_bound_python_folder_are_covered", ADVERSARIAL),
         "an empty tmpfs over autograder/suites/ where the package is installed into a bound "
         "site-packages (_grader_secrets)",
         "the editable install here keeps the suites outside the bound folders, so the test "
         "makes the package's folder one of them, as a site-packages install would"),
    Wall("tmpfs-size", WALLS_PY,
         "tmp_size = str(max(64 * 1024**2, plan.limits.file_size))",
         "tmp_size = str(64 * 1024**4)   # wall removed: /tmp and /dev/shm uncapped",
         ("tests/test_walls_sandbox.py::"
          "test_tmp_and_dev_shm_are_full_before_100_mib", ADVERSARIAL),
         "/tmp and /dev/shm are RAM-backed tmpfs no larger than the file-size limit",
         "disk-fill writes one file per folder, which the file-size limit stops first; the "
         "test writes many 512 KiB files (limit 1 MiB) and requires ENOSPC by 64 MiB (it stops "
         "itself at 100 MiB a folder, in the kernel's tmpfs, when the cap is gone)"),
    # -- what the grader reads ------------------------------------------------------------------
    Wall("artifact-nofollow", ARTIFACTS_PY,
         'flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)',
         'flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)',
         (WALLS_ARTIFACTS + "test_a_link_to_another_students_valid_model_is_not_followed",
          WALLS_ARTIFACTS + "test_a_linked_folder_on_the_way_to_the_model_is_not_followed",
          ADVERSARIAL),
         "files the kernel leaves are opened component by component without following links",
         "save-symlink's link (to the gradebook) and scratch-symlink's (.cnngrade -> /) fail "
         "the model check whether followed or not; only the message differs"),
    Wall("max-unzipped", ARTIFACTS_PY,
         "if sum(i.file_size for i in archive.infolist()) > MAX_UNZIPPED:",
         "if False:   # wall removed: MAX_UNZIPPED",
         (WALLS_ARTIFACTS + "test_a_valid_model_that_unpacks_beyond_the_cap_is_refused",
          ADVERSARIAL),
         "a saved .keras file's unpacked size is capped before Keras opens it",
         "model-bomb's config.json is '{}', which Keras refuses anyway: same score, another "
         "message"),
    Wall("loader-modules", ARTIFACTS_PY,
         '                return f"{str(module)[:60]}.{str(name)[:60]}"',
         "                pass   # wall removed: modules outside Keras allowed",
         ("tests/test_honest_forms.py::test_a_function_saved_by_name_loads_only_from_keras",
          ADVERSARIAL),
         "a model's config.json may name objects of Keras's own modules only",
         "if the first test passes, forged-config's os.system may run `touch /tmp/...` in the "
         "grader's process"),
    Wall("loader-registered-names", ARTIFACTS_PY,
         '            if isinstance(registered, str) and ">" in registered:',
         "            if False:   # wall removed: custom registered classes allowed",
         (WALLS_ARTIFACTS + "test_a_custom_class_registered_in_the_grader_is_not_loaded",
          WALLS_ARTIFACTS + "test_a_notebooks_own_custom_layer_is_refused_by_its_registered_name",
          ADVERSARIAL),
         "a model naming a custom registered class ('package>Name') is refused",
         "custom-layer's class is not registered in the grader, so Keras fails to load it "
         "anyway: same score, another message"),
    Wall("loader-registry-names", ARTIFACTS_PY,
         "            if keras.saving.get_registered_object(node) is not None:",
         "            if False:   # wall removed: names of the grader's registry allowed",
         (WALLS_ARTIFACTS + "test_a_function_registered_in_the_grader_is_not_loaded",),
         "no string of a model's config may name an object registered in the grader's process "
         "(Keras looks names up there before its own modules)"),
    Wall("safe-mode", ARTIFACTS_PY,
         "return keras.saving.load_model(path, safe_mode=True)",
         "return keras.saving.load_model(path, safe_mode=False)",
         ("tests/test_check.py::test_keras_model_the_grader_cannot_load", ADVERSARIAL),
         "models are loaded with safe_mode=True (no Lambda bytecode)",
         "removed, the Lambda layers of these tests (x / 255, x * 0 + 1) run in the grader"),
    Wall("max-answer-bytes", "autograder/sandbox/proxy.py",
         "if not isinstance(data, str) or len(data) > MAX_ANSWER_BYTES * 4 // 3 + 4:",
         "if not isinstance(data, str):   # wall removed: MAX_ANSWER_BYTES",
         (WALLS_ARTIFACTS
          + "test_an_answer_within_the_output_cap_but_over_the_answer_cap_is_refused",
          "tests/test_proxy.py", ADVERSARIAL),
         "an answer's array is at most MAX_ANSWER_BYTES (64 MiB)",
         "huge-answer's 324 MB answer is dropped first by the answer output cap (96 MiB): "
         "expect survived"),
    Wall("answer-output-cap", KERNEL_PY,
         "self.client.output_cap = max(self.limits.output_size, ANSWER_OUTPUT_CAP)",
         "self.client.output_cap = 2**62   # wall removed: ANSWER_OUTPUT_CAP",
         (RELAY + "test_a_checker_calls_output_is_capped_at_the_answer_cap", ADVERSARIAL),
         "what a checker call's answer may send back is capped (ANSWER_OUTPUT_CAP, 96 MiB), in "
         "the relay and in the grader",
         "three 60 MiB prints in one call: removed, the grader receives all 180 MiB"),
    Wall("cell-output-cap", "autograder/sandbox/jupyter.py",
         "        if total > self.output_cap:",
         "        if False:   # wall removed: the output cap",
         (RELAY + "test_many_small_prints_are_cut_at_the_cells_cap", ADVERSARIAL),
         "a cell's outputs are capped (output_size, 2 MiB) in nbclient: the notebook keeps no "
         "more",
         "removed, the relay's budget (the cap + 1 MiB) still bounds what the grader receives; "
         "the notebook then keeps up to 3 MiB"),
    Wall("relay-frame-cap", RELAY_PY,
         "            to_kernel.setsockopt(zmq.MAXMSGSIZE, self.max_frame)",
         "            pass   # wall removed: MAXMSGSIZE",
         (RELAY + "test_a_1_gib_line_is_stopped_before_the_grader_holds_it",),
         "the relay refuses a frame over the answer cap + 1 MiB before reading it (ZeroMQ's "
         "MAXMSGSIZE) and stops the kernel",
         "removed, the relay reads the 1 GiB line (within its own memory limit) and drops it "
         "with a note: the grader is still safe, the relay is not"),
    Wall("relay-memory-limit", RELAY_PY,
         "    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))",
         "    pass   # wall removed: the relay's address space unlimited",
         (RELAY + "test_a_message_of_many_frames_is_stopped_before_the_grader_holds_it",),
         "the relay's own address space is limited (1.5 GiB): a message of many frames, each "
         "under MAXMSGSIZE, stops the kernel instead of filling the relay",
         "removed, the relay holds the 2.5 GiB message and drops it with a note"),
    Wall("relay-output-budget", RELAY_PY,
         "            if used >= 0 and used + size <= cap + MESSAGE_CAP:   # buffers count too",
         "            if True:   # wall removed: every output forwarded",
         (RELAY + "test_what_reaches_the_grader_per_cell_is_capped_by_the_relay",
          RELAY + "test_a_message_of_frames_within_the_relays_memory_is_dropped_with_a_note"),
         "the relay forwards a request's outputs up to the grader's cap for it (+ 1 MiB): the "
         "grader never receives the rest"),
    Wall("relay-signatures", RELAY_PY,
         "        if self.auth is not None:",
         "        if False:   # wall removed: signatures and replays not checked",
         (RELAY + "test_a_message_with_a_forged_signature_never_reaches_the_grader",
          RELAY + "test_a_replayed_message_reaches_the_grader_once"),
         "the relay forwards only messages signed with the session's key and not seen before "
         "(jupyter_client would raise in the grader on the others)"),
    # -- time -----------------------------------------------------------------------------------
    Wall("cell-cpu-limit", KERNEL_PY,
         "            cpu, wall = cell_budget.cpu, cell_budget.wall",
         "            cpu, wall = None, cell_budget.wall   # wall removed: no CPU limit per cell",
         ("tests/test_load.py::test_computing_cells_are_stopped_by_their_cpu_time", ADVERSARIAL),
         "a cell may compute for cell_timeout CPU seconds (the wall clock only a backstop)"),
    Wall("notebook-cpu-limit", KERNEL_PY,
         "                cpu_left = (notebook.cpu - self.report.cpu_seconds\n"
         "                            if notebook.cpu is not None else None)",
         "                cpu_left = None   # wall removed: no CPU budget per notebook",
         (SANDBOX + "test_whole_notebook_cpu_budget_keeps_what_ran",),
         "a notebook may compute for notebook_timeout CPU seconds in all"),
    Wall("call-cpu-limit", KERNEL_PY,
         "        watch = self._watch(budget.cpu)",
         "        watch = self._watch(None)   # wall removed: no CPU limit per call",
         ("tests/test_walls_sandbox.py::"
          "test_a_checker_call_is_stopped_by_its_cpu_time", ADVERSARIAL),
         "a checker call may compute for call_timeout CPU seconds",
         "removed, the test's endless call runs into its wall-clock backstop (60 s) and gets "
         "the wall clock's message instead of the CPU limit's"),
    Wall("cpu-tree", "autograder/sandbox/cputime.py",
         "        todo += children.get(pid, [])",
         "        pass   # wall removed: only the sandbox's first process is counted",
         ("tests/test_load.py::test_computing_cells_are_stopped_by_their_cpu_time",),
         "CPU time is counted over the kernel's whole process tree"),
    Wall("process-reaping", KERNEL_PY,
         "            if process is not None and process.poll() is None:",
         "            if False:   # wall removed: the sandbox's process is not killed",
         ("tests/test_walls_sandbox.py::"
          "test_a_kernel_whose_shutdown_failed_is_still_killed_and_reaped",
          "tests/test_walls_sandbox.py::"
          "test_after_grading_the_sandboxs_processes_are_gone_and_reaped"),
         "after grading, the sandbox's first process is killed and waited for, whatever "
         "jupyter_client's shutdown did",
         "it is the only wall where that shutdown fails: the first test makes it raise, as "
         "nbclient's clean-up would on a kernel manager's error; where the shutdown works, it "
         "already SIGKILLs the process group and waits, and the pid namespace ends the rest"),
    # -- intake ---------------------------------------------------------------------------------
    Wall("collect-nofollow", COLLECT_PY,
         'OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | ',
         "OPEN_FLAGS = os.O_RDONLY | ",
         ("tests/test_collect_safety.py::"
          "test_a_file_swapped_for_a_link_after_the_listing_is_not_followed",
          "tests/test_collect_safety.py::"
          "test_folder_links_pipes_sockets_and_devices_are_skipped",
          "tests/test_collect_safety.py::test_exchange_links_and_pipes"),
         "collect opens a submitted file without following a link"),
    Wall("collect-zip-ratio", COLLECT_PY,
         "info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * info.compress_size)",
         "False)",   # wall removed: MAX_RATIO (the colon follows)
         ("tests/test_collect_safety.py::"
          "test_a_member_under_the_size_cap_but_over_the_ratio_is_a_bomb",
          "tests/test_collect_safety.py::test_zip_bomb_member_and_oversized_member"),
         "a zip member inflating more than MAX_RATIO times past 1 MiB is skipped as a bomb"),
    Wall("collect-zip-total", COLLECT_PY,
         "            if total > budget:",
         "            if False:   # wall removed: MAX_TOTAL",
         ("tests/test_collect_safety.py::test_members_summing_past_the_total_cap",),
         "a zip is read up to MAX_TOTAL bytes (or MAX_RATIO times its size)"),
    Wall("release-leak", "autograder/intake/release.py",
         "    if leaks:\n        raise LeakError(",
         "    if False:   # wall removed: leaks released\n        raise LeakError(",
         ("tests/test_release.py::test_solution_outside_its_region_is_refused",
          "tests/test_release.py::test_hidden_test_in_a_public_file_is_refused",
          "tests/test_student_side.py::test_the_leak_refusal_reads_the_manifest"),
         "release refuses a solution line or the hidden tests in any released file"),
)


class TableError(Exception):
    """The table no longer matches the code (a replaced text is missing or not unique)."""


# -- the table against the code ----------------------------------------------------------------

def anchor_line(wall: Wall, root: Path) -> int:
    """The line where `wall.old` starts in `root/wall.file`; TableError unless it occurs
    exactly once and the file with the replacement still compiles."""
    path = root / wall.file
    if not path.is_file():
        raise TableError(f"{wall.name}: {wall.file} does not exist; update the table in "
                         "scripts/remove_walls.py.")
    text = path.read_text(encoding="utf-8")
    count = text.count(wall.old)
    if count != 1:
        raise TableError(f"{wall.name}: the text it replaces occurs {count} times in "
                         f"{wall.file} (expected exactly once): {wall.old[:80]!r}; update the "
                         "table in scripts/remove_walls.py.")
    try:   # a SyntaxError must be the table's fault, never count as a kill
        compile(text.replace(wall.old, wall.new, 1), str(path), "exec")
    except SyntaxError as exc:
        raise TableError(f"{wall.name}: {wall.file} does not compile with the replacement "
                         f"(line {exc.lineno}: {exc.msg}); fix the table.") from None
    return text[:text.index(wall.old)].count("\n") + 1


def apply_patch(wall: Wall, root: Path) -> None:
    """Make the wall's one replacement in the copy at `root`."""
    anchor_line(wall, root)
    path = root / wall.file
    path.write_text(path.read_text(encoding="utf-8").replace(wall.old, wall.new, 1),
                    encoding="utf-8")


def module_of(rel: str, package_dirs: dict[str, str]) -> str | None:
    """The module name of the source file `rel` under pyproject's package-dir mapping."""
    parts = Path(rel).with_suffix("").parts
    best = None
    for package, folder in package_dirs.items():
        head = Path(folder).parts
        if parts[:len(head)] == head and (best is None or len(head) > len(best[1])):
            best = (package, head)
    if best is None:
        return None
    rest = [p for p in parts[len(best[1]):] if p != "__init__"]
    return ".".join([best[0], *rest])


# -- the copy ------------------------------------------------------------------------------------

def tree_files(repo: Path) -> list[str]:
    listing = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True).stdout
    return sorted({name for name in listing.decode().split("\0") if name})


def copy_tree(repo: Path, dest: Path) -> int:
    """Copy the working tree's files (as on disk; tracked files deleted there are skipped)."""
    copied = 0
    for rel in tree_files(repo):
        source, target = repo / rel, dest / rel
        if not source.is_symlink() and not source.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
        copied += 1
    return copied


def package_dirs(copy: Path) -> dict[str, str]:
    """pyproject.toml's `[tool.setuptools] package-dir` of the copy."""
    project = tomllib.loads((copy / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = project.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    if "cnngrade" not in mapping:
        raise TableError("pyproject.toml maps no `cnngrade` package ([tool.setuptools] "
                         "package-dir); teach scripts/remove_walls.py the new layout.")
    return dict(mapping)


SITECUSTOMIZE = '''\
"""Written by scripts/remove_walls.py: the packages below are imported from a copy of the tree,
in front of the editable install's finder (which setuptools appends to sys.meta_path)."""
import sys
from importlib.util import spec_from_file_location

MAPPING = {mapping!r}


class CopyFinder:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        folder = MAPPING.get(fullname)
        return None if folder is None else spec_from_file_location(
            fullname, folder + "/__init__.py")


sys.meta_path.insert(0, CopyFinder)
'''

PROBE = '''\
import importlib, json, sys
import cnngrade, cnngrade.cli
from cnngrade.course import config
found = {"cnngrade": cnngrade.__file__, "cnngrade.cli": cnngrade.cli.__file__,
         "REPO_ROOT": str(config.REPO_ROOT)}
if sys.argv[1]:
    found[sys.argv[1]] = importlib.import_module(sys.argv[1]).__file__
print(json.dumps(found))
'''


def make_shim(copy: Path, shim: Path) -> None:
    mapping = {package: str(copy / folder) for package, folder in package_dirs(copy).items()}
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "sitecustomize.py").write_text(SITECUSTOMIZE.format(mapping=mapping))


def probe_imports(python: Path, copy: Path, env: dict[str, str], wall: Wall | None) -> str:
    """Check, in the tests' environment, that the copy's code is what gets imported (and the
    patched module holds the patch); return a one-line description, or raise TableError."""
    module = module_of(wall.file, package_dirs(copy)) if wall else None
    proc = subprocess.run([str(python), "-c", PROBE, module or ""], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise TableError(f"the import probe failed in {copy}: {proc.stderr.strip()[-500:]}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    outside = {k: v for k, v in found.items() if not Path(v).resolve().is_relative_to(copy)}
    if outside:
        raise TableError(f"the copy's code is not what gets imported: {outside}")
    if wall and module:
        source = Path(found[module]).read_text(encoding="utf-8")
        if wall.new not in source or Path(found[module]).resolve() != (copy / wall.file):
            raise TableError(f"{wall.name}: {module} was imported from {found[module]}, "
                             "without the patch")
    return f"cnngrade from {Path(found['cnngrade']).parent}" + (
        f", {module} patched" if module else "")


# -- one run ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    wall: Wall
    result: str          # killed, survived, untested, error
    seconds: float
    detail: str = ""
    log: Path | None = None


# a parametrized id may hold spaces: test_x[weights padded]
FAILED = re.compile(r"^(FAILED|ERROR) (\S+(?:\[[^\]]*\])?)(?: - (.*))?$", re.M)
SUMMARY = re.compile(r"^=*\s*(.*\d+ (?:passed|failed|error|errors|skipped).*?)\s*=*$", re.M)


def run_tests(python: Path, tests: tuple[str, ...], copy: Path, env: dict[str, str],
              log: Path, timeout: float, basetemp: Path) -> tuple[str, str]:
    """(result, detail) of the tests in the copy: killed, survived or error."""
    argv = [str(python), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
            f"--basetemp={basetemp}", *tests]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        out.write(f"$ cd {copy} && PYTHONPATH={env['PYTHONPATH']} {' '.join(argv)}\n\n")
        out.flush()
        proc = subprocess.Popen(argv, cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)   # the session: pytest and what it started
            proc.wait()
            return "error", f"timed out after {timeout:.0f} s (slow, not a kill: rerun)"
    text = log.read_text(errors="replace")
    summary = [re.sub(r" in [0-9.]+s\b.*$", "", line) for line in SUMMARY.findall(text)]
    failures = FAILED.findall(text)
    if rc == 0:
        return "survived", summary[-1] if summary else "all passed"
    if rc == 1 and failures:
        kind, node, message = failures[0]
        what = "errored" if kind == "ERROR" else "failed"
        message = message.strip() if len(message.strip()) > 20 else ""   # not "AssertionError: {"
        return "killed", (f"{node.removeprefix('tests/')} {what}"
                          + (f" ({summary[-1]})" if summary else "")
                          + (f": {message[:120]}" if message else ""))
    why = {2: "interrupted (a collection error?)", 3: "pytest's internal error",
           4: "a usage error (a test id that does not exist?)", 5: "no tests collected"}
    return "error", f"pytest exit {rc}: {why.get(rc, 'see the log')}"


def run_wall(wall: Wall, python: Path, args: argparse.Namespace) -> Outcome:
    start = time.monotonic()
    if not wall.tests:
        return Outcome(wall, "untested", 0.0, "the table names no test for this wall")
    # short paths: the kernels' ipc sockets live below pytest's tmp_path in some tests
    work = Path(tempfile.mkdtemp(prefix="walls-"))
    copy, shim = work / "tree", work / "shim"
    log = args.logs / f"{wall.name}.log"
    try:
        copy_tree(ROOT, copy)
        make_shim(copy, shim)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = str(shim)
        env.pop("PYTEST_ADDOPTS", None)
        env["COLUMNS"] = "250"   # pytest's short summary: the failure's message, not "F..."
        if args.baseline:
            probe_imports(python, copy, env, None)
            result, detail = run_tests(python, wall.tests, copy, env,
                                       args.logs / f"{wall.name}.baseline.log", args.timeout,
                                       work / "b")
            if result != "survived":
                return Outcome(wall, "error", time.monotonic() - start,
                               f"the tests fail with the wall in place ({detail})",
                               args.logs / f"{wall.name}.baseline.log")
            start = time.monotonic()
        apply_patch(wall, copy)
        probed = probe_imports(python, copy, env, wall)
        result, detail = run_tests(python, wall.tests, copy, env, log, args.timeout, work / "t")
        with open(log, "a") as out:
            out.write(f"\n[remove_walls] {probed}; {result}: {detail}\n")
        return Outcome(wall, result, time.monotonic() - start, detail, log)
    finally:
        if args.keep:
            print(f"  kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


# -- tables ------------------------------------------------------------------------------------

def where(wall: Wall) -> str:
    try:
        return f"{wall.file}:{anchor_line(wall, ROOT)}"
    except TableError:
        return f"{wall.file}:?"


def short(test: str) -> str:
    return test.removeprefix("tests/")


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest line; a cell may hold several lines."""
    cells = [[c.split("\n") for c in row] for row in [header, *rows]]
    widths = [max(len(line) for row in cells for line in row[i]) for i in range(len(header))]
    out = []
    for n, row in enumerate(cells):
        for k in range(max(len(c) for c in row)):
            out.append("  ".join((c[k] if k < len(c) else "").ljust(w)
                                 for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", "<br>")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def code(text: str) -> str:
    return "`" + " ".join(text.split()).replace("`", "'") + "`"


def list_table(walls: list[Wall], markdown: bool) -> str:
    if markdown:
        return md_table(["wall", "where", "what it stops", "removed by", "tests"], [
            [w.name, f"`{where(w)}`", w.what + (f" ({w.note})" if w.note else ""),
             f"{code(w.old)} → {code(w.new)}",
             "\n".join(f"`{short(t)}`" for t in w.tests) or "none"] for w in walls])
    blocks = []
    for w in walls:
        lines = [f"{w.name}  {where(w)}", f"  stops:   {w.what}"]
        old, new = w.old.strip("\n").split("\n"), w.new.strip("\n").split("\n")
        lines += [f"  - {line.strip()}" for line in old] + [f"  + {line.strip()}" for line in new]
        tests = [short(t) for t in w.tests] or ["none"]
        lines += [f"  {'tests:' if k == 0 else '':8} {t}" for k, t in enumerate(tests)]
        if w.note:
            lines.append(f"  note:    {w.note}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def result_table(outcomes: list[Outcome], markdown: bool) -> str:
    rows = []
    for o in outcomes:
        result = f"{o.result} ({o.seconds:.0f} s)" if o.result != "untested" else o.result
        if o.detail and o.result != "survived":
            result += f"\n{o.detail}" if not markdown else f": {o.detail}"
        tests = "\n".join(short(t) for t in o.wall.tests) or "none"
        rows.append([o.wall.name, where(o.wall), tests, result])
    header = ["wall", "where", "tests run", "result"]
    if markdown:
        rows = [[r[0], f"`{r[1]}`", "\n".join(f"`{t}`" for t in r[2].split("\n")), r[3]]
                for r in rows]
        return md_table(header, rows)
    return text_table(header, rows)


# -- main ----------------------------------------------------------------------------------------

def select(only: list[str] | None) -> list[Wall]:
    if not only:
        return list(WALLS)
    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    known = {w.name: w for w in WALLS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"Unknown wall {', '.join(map(repr, unknown))}; the walls are: "
                         f"{', '.join(known)}.")
    return [known[n] for n in dict.fromkeys(names)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", metavar="NAME[,NAME]",
                        help="run only these walls (repeatable)")
    parser.add_argument("--list", action="store_true",
                        help="print the table (patches and tests) without running anything")
    parser.add_argument("--markdown", action="store_true", help="print tables as markdown")
    parser.add_argument("--baseline", action="store_true",
                        help="first run each wall's tests on an unpatched copy (they must pass)")
    parser.add_argument("--timeout", type=float, default=1200,
                        help="seconds for one wall's tests (default 1200); past it: killed")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    parser.add_argument("--python", type=Path, default=None,
                        help="the interpreter for the tests (default: this checkout's .venv)")
    parser.add_argument("--logs", type=Path, default=LOGS, help=f"default {LOGS}")
    args = parser.parse_args(argv)
    walls = select(args.only)
    names = [w.name for w in WALLS]
    assert len(set(names)) == len(names), "two walls share a name"

    broken = []
    for wall in walls:
        try:
            anchor_line(wall, ROOT)
        except TableError as exc:
            broken.append(str(exc))
    if args.list:
        print(list_table(walls, args.markdown))
    for line in broken:
        print(f"error: {line}", file=sys.stderr)
    if broken:
        return 2
    if args.list:
        return 0

    python = args.python or ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} does not exist; run `make setup` first (or give --python).")
    outcomes = []
    for n, wall in enumerate(walls, 1):
        print(f"[{n}/{len(walls)}] {wall.name} ({where(wall)}): "
              f"{', '.join(short(t) for t in wall.tests) or 'no tests'}", file=sys.stderr,
              flush=True)
        try:
            outcome = run_wall(wall, python, args)
        except TableError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"    {outcome.result} in {outcome.seconds:.0f} s"
              + (f": {outcome.detail}" if outcome.detail else ""), file=sys.stderr, flush=True)
        outcomes.append(outcome)
    print(result_table(outcomes, args.markdown))
    counts = {r: sum(o.result == r for o in outcomes)
              for r in ("killed", "survived", "untested", "error")}
    print("\n" + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
          + f" of {len(outcomes)} walls; pytest output in {args.logs}/")
    return 0 if counts["killed"] == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
