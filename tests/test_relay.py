"""The relay between a sandboxed kernel and the grader (cnngrade.sandbox.relay) caps what the
kernel sends *before* the grader receives it: the grader's own peak memory is measured (in a
child process, its VmHWM) while a kernel prints a 1 GiB line or sends a message of 2.5 GiB of
frames; what reaches the grader per cell is counted; replayed and forged messages, which make
jupyter_client raise, never reach it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from cnngrade.course.config import Limits
from cnngrade.sandbox import jupyter
from cnngrade.sandbox.student_kernel import KernelGone, StudentKernel

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
LIMITS = Limits(cell_timeout=60, notebook_timeout=600, memory=6 * 1024**3, processes=32,
                file_size=1024**2)
STOPPED = "too large for the grader"


def _memory_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def grade_in_a_child(cells: list[str]) -> dict:
    """The cells run by a StudentKernel in a fresh Python process, which reports the outputs
    (each cell's texts joined), the problems and its own peak resident memory (VmHWM: the
    grader's side only; the kernel and the relay are other processes)."""
    script = textwrap.dedent(f"""
        import json, nbformat
        def peak_mib():   # this process's own high-water mark (ru_maxrss would include the
            for line in open("/proc/self/status"):   # forked parent's, which exec keeps)
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        from cnngrade.course.config import Limits
        from cnngrade.sandbox.student_kernel import StudentKernel
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) for c in {cells!r}]
        with StudentKernel(nb, Limits(**{LIMITS.__dict__!r})) as kernel:
            report = kernel.run_notebook()
        print(json.dumps({{
            "outputs": [["".join(o.get("text") or o.get("evalue") or "" for o in c.outputs)]
                        if c.outputs else [] for c in nb.cells],
            "problems": report.problems,
            "peak_mib": peak_mib()}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(cells: list[str]) -> tuple[list[list[str]], list[str]]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    with StudentKernel(nb, LIMITS) as kernel:
        report = kernel.run_notebook()
    # a cell's stream texts joined: how a print is split into messages depends on the machine
    return [["".join(o.get("text") or o.get("evalue") or "" for o in c.outputs)]
            if c.outputs else [] for c in nb.cells], report.problems


@pytest.fixture
def received(monkeypatch) -> list[int]:
    """The size of each output message the grader received (decoded, handed to nbclient)."""
    sizes: list[int] = []
    output = jupyter.CappedNotebookClient.output

    def counting(self, outs, msg, display_id, cell_index):
        sizes.append(len(json.dumps(msg.get("content", {}))))
        return output(self, outs, msg, display_id, cell_index)

    monkeypatch.setattr(jupyter.CappedNotebookClient, "output", counting)
    return sizes


def test_a_1_gib_line_is_stopped_before_the_grader_holds_it():
    """Without the relay the grader held 3,152 MiB for this line (jupyter_client receives and
    decodes the whole message before nbclient's cap sees it)."""
    if _memory_available() < 8 * 1024**3:
        pytest.skip("the kernel needs about 4 GiB to build and send a 1 GiB line")
    got = grade_in_a_child(["print('before')", "print('x' * 2**30)", "print('after')"])
    assert got["outputs"][0] == ["before\n"] and got["outputs"][2] == ["after\n"], got
    assert len(got["outputs"][1]) == 1 and STOPPED in got["outputs"][1][0], got
    assert any(p.startswith("cell 2 was stopped: it sent a message on its iopub channel too "
                            "large") for p in got["problems"]), got
    assert got["peak_mib"] < 400, got   # an idle grader with a kernel: about 85 MiB


def test_a_message_of_many_frames_is_stopped_before_the_grader_holds_it():
    """Each of the 40 frames (64 MiB, the same buffer sent 40 times: 2.5 GiB that the kernel
    holds once) is under ZeroMQ's per-frame limit; the relay's own memory limit stops the
    whole."""
    got = grade_in_a_child([
        "print('before')",
        "k = get_ipython().kernel\nbig = b'x' * (64 * 2**20)\n"
        "k.session.send(k.iopub_socket, 'stream', {'name': 'stdout', 'text': 'frames'}, "
        "parent=k.get_parent(), buffers=[big] * 40)\nimport time; time.sleep(2)",
        "print('after')"])
    assert got["outputs"][2] == ["after\n"], got
    assert len(got["outputs"][1]) == 1 and STOPPED in got["outputs"][1][0], got
    assert got["peak_mib"] < 400, got


def test_a_message_of_frames_within_the_relays_memory_is_dropped_with_a_note():
    """640 MiB of frames: the relay may hold them, the grader never receives them (a stream of
    this size is over the cell's cap); the cell goes on."""
    got = grade_in_a_child([
        "k = get_ipython().kernel\nbig = b'x' * (64 * 2**20)\n"
        "k.session.send(k.iopub_socket, 'stream', {'name': 'stdout', 'text': 'frames'}, "
        "parent=k.get_parent(), buffers=[big] * 10)\nprint('still running')",
        "print('after')"])
    assert got["problems"] == [], got
    assert got["outputs"][0][0].startswith("\n[cnngrade: output beyond 2048 KiB was dropped]")
    assert got["outputs"][1] == ["after\n"], got
    assert got["peak_mib"] < 400, got


def test_what_reaches_the_grader_per_cell_is_capped_by_the_relay(received):
    """200 prints of 1 MiB each: the grader receives (decodes and hands to nbclient) about the
    cell's 2 MiB cap, not the 200 MiB; the notebook keeps 2 MiB and one note."""
    out, problems = run(["import sys\nfor i in range(200):\n    print('y' * 2**20)\n"
                         "    sys.stdout.flush()", "print('after')"])
    assert problems == [] and out[1] == ["after\n"]
    assert sum(received) < 4 * 2**20, sum(received)   # cap + the relay's 1 MiB slack
    kept = "".join(out[0])
    assert kept.endswith("[cnngrade: output beyond 2048 KiB was dropped]\n")
    assert len(kept) <= 2 * 2**20 + 100


def test_many_small_prints_are_cut_at_the_cells_cap():
    """5 MiB in 1 KiB lines, each message far under any cap: the notebook keeps at most the
    cell's 2 MiB (nbclient's side of the cap) and one note."""
    out, problems = run(["import sys\nfor i in range(5 * 1024):\n    print('z' * 1023)\n"
                         "    if i % 64 == 0: sys.stdout.flush()", "print('after')"])
    kept = "".join(out[0])
    assert problems == [] and out[1] == ["after\n"]
    assert "[cnngrade: output beyond 2048 KiB was dropped]" in kept
    assert 1.5 * 2**20 < len(kept) <= 2 * 2**20 + 100, len(kept)


def test_a_checker_calls_answer_passes_the_relay_up_to_the_answer_cap():
    """A checker call may send back up to ANSWER_OUTPUT_CAP: the relay's cap follows the
    grader's (set over its control socket before the call), so an 80 MiB answer arrives whole,
    while the same output in a cell is cut at 2 MiB."""
    code = "print('a' * (80 * 2**20))"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    with StudentKernel(nb, LIMITS) as kernel:
        kernel.run_notebook()
        answer = kernel.run_code(code, 60)
    assert "".join(o.get("text", "") for o in answer) == "a" * (80 * 2**20) + "\n"
    assert "".join(o.get("text", "") for o in nb.cells[0].outputs).startswith(
        "\n[cnngrade: output beyond 2048 KiB was dropped]")


def test_a_replayed_message_reaches_the_grader_once():
    """The kernel sends the same signed message twice: jupyter_client would raise
    `ValueError: Duplicate Signature` in the grader; the relay forwards it once."""
    out, problems = run([
        "k = get_ipython().kernel\n"
        "msg = k.session.msg('stream', {'name': 'stdout', 'text': 'once\\n'}, "
        "parent=k.get_parent())\nk.session.send(k.iopub_socket, msg)\n"
        "k.session.send(k.iopub_socket, msg)\nimport time; time.sleep(1)",
        "print('after')"])
    assert problems == [], problems
    assert out == [["once\n"], ["after\n"]], out


def test_a_message_with_a_forged_signature_never_reaches_the_grader():
    """Signed with another key: jupyter_client would raise `ValueError: Invalid Signature`."""
    out, problems = run([
        "from jupyter_client.session import Session\n"
        "k = get_ipython().kernel\n"
        "Session(key=b'not the key').send(k.iopub_socket, 'stream', "
        "{'name': 'stdout', 'text': 'FORGED\\n'}, parent=k.get_parent())\n"
        "import time; time.sleep(1)\nprint('signed')",
        "print('after')"])
    assert problems == [], problems
    assert out == [["signed\n"], ["after\n"]], out


def test_a_checker_call_stopped_by_the_relay_says_why():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    with StudentKernel(nb, LIMITS) as kernel:
        kernel.run_notebook()
        with pytest.raises(KernelGone, match=STOPPED):
            kernel.run_code("print('q' * (200 * 2**20))", 60)
        assert kernel.run_code("print(x)", 60)[0]["text"] == "1\n"   # rebuilt, still there


def test_a_checker_calls_output_is_capped_at_the_answer_cap(received):
    """Three 60 MiB prints in one call (each under ZeroMQ's per-frame limit): the grader
    receives about the 96 MiB answer cap, the first print and the note, not 180 MiB."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import sys")]
    with StudentKernel(nb, LIMITS) as kernel:
        kernel.run_notebook()
        received.clear()
        answer = kernel.run_code("for i in range(3):\n    print('b' * (60 * 2**20))\n"
                                 "    sys.stdout.flush()", 60)
    texts = [o.get("text", "") for o in answer]
    assert texts[0] == "b" * (60 * 2**20) + "\n"
    assert texts[-1].startswith("\n[cnngrade: output beyond 98304 KiB was dropped]")
    assert sum(received) < 100 * 2**20, sum(received)


def test_a_deep_tmpdir_does_not_make_the_sockets_path_too_long(tmp_path, monkeypatch):
    """A Unix socket's path has at most 107 bytes; with TMPDIR 110 characters deep the
    kernel's and the relay's sockets go to /tmp, and the kernel starts."""
    import tempfile
    deep = tmp_path / ("d" * (110 - len(str(tmp_path))))
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print('started')")]
    with StudentKernel(nb, LIMITS) as kernel:
        assert kernel._tmp.parent == deep and str(kernel.plan.sockets).startswith("/tmp/")
        kernel.run_notebook()
        folders = (kernel._tmp, kernel.plan.sockets.parent)
    assert nb.cells[0].outputs[0]["text"] == "started\n"
    assert not any(f.exists() for f in folders)


def test_a_relay_whose_grader_died_during_its_start_up_starts_no_sandbox(tmp_path):
    """The grader killed between starting the relay and the relay's first look at its parent
    (the crash-safety tests do that): the relay's parent is then no longer the grader named in
    its configuration, and it exits without starting the sandbox (which bwrap's
    --die-with-parent would otherwise tie to a relay that lives on)."""
    ports = {f"{c}_port": i for i, c in enumerate(("shell", "iopub", "stdin", "hb", "control"),
                                                  1)}
    info = {"transport": "ipc", "key": "k", "signature_scheme": "hmac-sha256", **ports}
    config = {"inner": {**info, "ip": str(tmp_path / "in")},
              "outer": {**info, "ip": str(tmp_path / "out")},
              "control": f"ipc://{tmp_path / 'control'}", "output_cap": 2**21,
              "max_cap": 2**26, "memory": 2**31, "grader": 1}   # not this test's pid
    (tmp_path / "relay.json").write_text(json.dumps(config))
    marker = tmp_path / "sandbox-started"
    done = subprocess.run([sys.executable, str(jupyter.RELAY), str(tmp_path / "relay.json"),
                           "--", "touch", str(marker)], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert not marker.exists()


@pytest.mark.parametrize("scheme", ["hmac-sha256", "hmac-sha512"])
def test_the_relays_signatures_are_jupyter_clients(scheme):
    """The relay signs and checks messages without importing jupyter_client (its import is a
    tenth of a short notebook's grading): what it accepts and makes is what jupyter_client's
    Session signs and decodes."""
    from jupyter_client.session import Session

    from cnngrade.sandbox.relay import DELIM, Signer
    session = Session(key=b"the key", signature_scheme=scheme)
    signer = Signer(b"the key", scheme)
    msg = session.msg("stream", {"name": "stdout", "text": "hi"}, parent={"msg_id": "p1"})
    frames = session.serialize(msg, ident=[b"topic"])
    body = frames[frames.index(DELIM) + 1:]
    assert signer.sign(body[1:5]) == body[0]
    assert signer.valid(body)
    assert not signer.valid(body), "a replay"
    forged = Session(key=b"not the key", signature_scheme=scheme).serialize(msg)
    assert not Signer(b"the key", scheme).valid(forged[forged.index(DELIM) + 1:])
    unsigned = [b"", *body[1:]]
    assert not Signer(b"the key", scheme).valid(unsigned)
    not_json = [*body[:4], b"[1, 2]"]
    not_json[0] = signer.sign(not_json[1:5])
    assert not Signer(b"the key", scheme).valid(not_json)
    note = signer.message([b"topic"], "stream", {"name": "stderr", "text": "note"},
                          {"msg_id": "p1"})
    assert note[:2] == [b"topic", DELIM]
    decoded = session.deserialize(note[2:])
    assert decoded["msg_type"] == "stream" and decoded["parent_header"] == {"msg_id": "p1"}
    assert decoded["content"] == {"name": "stderr", "text": "note"}
