"""The relay between a sandboxed kernel and the grader: every message the kernel sends passes
through this small process, which caps it *before* the grader receives it.

jupyter_client receives a whole message (every frame of it) and decodes it before any code of
ours sees it, so a kernel printing one 2 GiB line, or sending a message of a thousand 100 MiB
frames, would be held in the grader several times over. Here instead, for each of the kernel's
five channels, the grader connects to this process (ipc sockets in a folder the sandbox does not
see) and this process connects to the kernel (the sockets in the sandbox's folder). Going to the
kernel, the grader's messages pass unchanged; coming from it, a message is forwarded only if

- it is at most `message_cap` bytes in all (status, replies, the code echoed) -- or, for an
  output (a stream, a display, a result, an error), it belongs to a request the grader sent
  and that request's outputs stay within the cap the grader set for it (`output cap`, over the
  control socket: a cell's 2 MiB, a checker call's answer cap); past it the rest of that
  request's outputs are dropped and one note says so;
- its signature is valid and not seen before (a replayed or forged message would make
  jupyter_client raise in the grader: ``Duplicate Signature``, ``Invalid Signature``);
- and it decodes (header, parent, metadata and content are JSON objects).

What the relay itself may hold is bounded: frames larger than the largest cap are refused by
ZeroMQ before they are read (`MAXMSGSIZE`: the kernel's connection is reset, the message is
lost), and after starting the sandbox this process limits its own address space
(`RLIMIT_AS`), so a message of many frames that would pass it kills the relay -- and with it
the sandbox (bwrap's --die-with-parent): the grader sees a kernel that died, as when a cell
exhausts its own memory.

Started by cnngrade.sandbox.jupyter as the kernel's command:

    python relay.py CONFIG.json -- <the sandboxed kernel's command>

CONFIG.json: {"inner": {connection info the kernel binds}, "outer": {connection info the
grader connects to}, "control": "ipc://...", "output_cap": bytes, "max_cap": bytes,
"memory": bytes, "grader": the grader's pid}. It exits with the sandbox's exit status, or
when the grader is no longer its parent (it died, even before this process started). This file
imports no part of cnngrade: it runs beside the grader, on the trusted side.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import resource
import signal
import subprocess
import sys
import uuid
from collections import OrderedDict
from datetime import UTC, datetime

import zmq

CHANNELS = ("shell", "control", "stdin", "hb", "iopub")
# what a kernel sends as the output of a request (nbformat's output types)
OUTPUTS = {"stream", "display_data", "update_display_data", "execute_result", "error"}
MESSAGE_CAP = 1024 * 1024          # any other message, all frames together
HB_CAP = 4096                      # a heartbeat is an echo of b"ping"
REQUESTS_KEPT = 64                 # the grader's latest requests whose outputs are forwarded
DELIM = b"<IDS|MSG>"               # between a message's identities and its signature
SIGNATURES_KEPT = 2**16            # signatures remembered against replays (jupyter_client's)


def note_text(cap: int) -> str:
    """The note a cell gets when its output passed the cap (the same words as the grader's)."""
    return f"\n[cnngrade: output beyond {cap // 1024} KiB was dropped]\n"


class Signer:
    """A message's signature, as the Jupyter messaging protocol defines it ("The Wire
    Protocol"): the hex HMAC of its header, parent header, metadata and content frames, keyed by
    the connection's key with the connection's scheme ("hmac-sha256"). The same as
    `jupyter_client.session.Session.sign` (tests/test_relay.py compares them), written here
    because importing jupyter_client costs this process 120 ms of CPU at every kernel's start
    (python -X importtime: 0.16 s in all against 0.04 s with zmq alone), a tenth of a
    quickstart notebook's whole grading."""

    def __init__(self, key: bytes, scheme: str = "hmac-sha256"):
        algorithm = scheme.partition("-")[2]
        if not key:
            self.auth = None   # an unsigned connection: signatures are empty
        elif not scheme.startswith("hmac-") or algorithm not in hashlib.algorithms_available:
            raise ValueError(f"unknown signature scheme {scheme!r}")
        else:
            self.auth = hmac.new(key, digestmod=algorithm)
        self.seen: OrderedDict[bytes, None] = OrderedDict()
        self.session = uuid.uuid4().hex

    def sign(self, parts: list) -> bytes:
        if self.auth is None:
            return b""
        digest = self.auth.copy()
        for part in parts:
            digest.update(part)
        return digest.hexdigest().encode()

    def valid(self, body: list) -> bool:
        """Signed with the key, not a replay, and header, parent, metadata and content JSON
        objects: what jupyter_client needs to decode it without raising in the grader."""
        if len(body) < 5:
            return False
        parts = [bytes(f.bytes if isinstance(f, zmq.Frame) else f) for f in body[:5]]
        if self.auth is not None:
            signature = parts[0]
            if (not signature or signature in self.seen
                    or not hmac.compare_digest(signature, self.sign(parts[1:5]))):
                return False
            self.seen[signature] = None
            if len(self.seen) > SIGNATURES_KEPT:
                self.seen.popitem(last=False)
        try:
            return all(isinstance(json.loads(part), dict) for part in parts[1:5])
        except ValueError:
            return False

    def message(self, idents: list[bytes], msg_type: str, content: dict,
                parent: dict) -> list[bytes]:
        """A new message's frames, signed, in reply to `parent`."""
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "cnngrade",
                  "session": self.session, "date": datetime.now(UTC).isoformat(),
                  "version": "5.3"}
        parts = [json.dumps(part).encode() for part in (header, parent, {}, content)]
        return [*idents, DELIM, self.sign(parts), *parts]


class Relay:
    def __init__(self, config: dict, context: zmq.Context):
        inner, outer = config["inner"], config["outer"]
        self.signer = Signer(inner["key"].encode(),
                             inner.get("signature_scheme", "hmac-sha256"))
        self.output_cap = int(config["output_cap"])
        self.max_frame = int(config["max_cap"]) + MESSAGE_CAP
        self.memory = int(config["memory"])
        # request msg_id -> [output cap, bytes of output forwarded, note sent]
        self.requests: OrderedDict[str, list] = OrderedDict()
        self.pairs: dict[zmq.Socket, tuple[zmq.Socket, str, str]] = {}
        for name in CHANNELS:
            kind_in, kind_out = ((zmq.XSUB, zmq.XPUB) if name == "iopub"
                                 else (zmq.DEALER, zmq.ROUTER))
            to_kernel = context.socket(kind_in)
            to_kernel.setsockopt(zmq.MAXMSGSIZE, self.max_frame)
            to_kernel.linger = 0
            if kind_in == zmq.DEALER:   # one identity, so the kernel's stdin finds the shell's
                to_kernel.identity = b"cnngrade-relay"
            to_kernel.connect(_url(inner, name))
            to_grader = context.socket(kind_out)
            to_grader.linger = 0
            to_grader.bind(_url(outer, name))
            self.pairs[to_kernel] = (to_grader, name, "from kernel")
            self.pairs[to_grader] = (to_kernel, name, "from grader")
        # The kernel's iopub connection, dropped by ZeroMQ for a protocol error (a frame past
        # MAXMSGSIZE, a message past RLIMIT_AS, a broken frame), is not made again, and what
        # the kernel sends is lost from then on. A kernel that exits (or closes its iopub
        # socket) drops it too: told apart by a probe, a fresh subscription of the relay's own
        # that only a living kernel's iopub thread answers (ipykernel's iopub_welcome). Where
        # it does, the kernel is stopped (Relay.broken). Its other channels carry replies only:
        # a refused one leaves the grader waiting until the cell's wall-clock limit.
        self.context = context
        self.iopub_url = _url(inner, "iopub")
        self.monitors = {sock.get_monitor_socket(zmq.EVENT_DISCONNECTED): name
                         for sock, (_, name, direction) in self.pairs.items()
                         if direction == "from kernel" and name == "iopub"}
        self.probes: set[zmq.Socket] = set()
        self.broken = ""
        self.control = context.socket(zmq.REP)
        self.control.linger = 0
        self.control.bind(config["control"])
        self.poller = zmq.Poller()
        for sock in [*self.pairs, *self.monitors, self.control]:
            self.poller.register(sock, zmq.POLLIN)

    # -- one step ---------------------------------------------------------------------------
    def step(self, timeout_ms: int) -> None:
        for sock, _ in self.poller.poll(timeout_ms):
            if sock is self.control:
                self._control()
                continue
            if sock in self.monitors:
                sock.recv_multipart()   # the event itself says nothing more
                self._probe()
                continue
            if sock in self.probes:
                sock.recv_multipart(copy=False)   # the kernel's iopub thread answered
                self.broken = ("it sent a message on its iopub channel too large for the grader "
                               f"(over {self.max_frame // 2**20} MiB in one part, or over "
                               f"{self.memory // 2**20} MiB in all)")
                continue
            frames = sock.recv_multipart(copy=False)
            other, name, direction = self.pairs[sock]
            if direction == "from grader":
                self._note_request(name, frames)
                other.send_multipart(frames)
            else:
                for message in self._from_kernel(name, frames):
                    other.send_multipart(message)

    def _probe(self) -> None:
        """Subscribe afresh to the kernel's iopub: a living kernel answers (iopub_welcome)."""
        probe = self.context.socket(zmq.SUB)
        probe.linger = 0
        probe.setsockopt(zmq.MAXMSGSIZE, MESSAGE_CAP)
        probe.setsockopt(zmq.SUBSCRIBE, b"cnngrade-probe-" + os.urandom(8).hex().encode())
        probe.connect(self.iopub_url)
        self.probes.add(probe)
        self.poller.register(probe, zmq.POLLIN)

    def _control(self) -> None:
        words = self.control.recv().split()
        if len(words) == 2 and words[0] == b"cap" and words[1].isdigit():
            self.output_cap = int(words[1])
        self.control.send(b"ok")

    def _note_request(self, name: str, frames: list[zmq.Frame]) -> None:
        """The grader's requests (trusted): outputs parented to one of them may come back."""
        if name not in ("shell", "control"):
            return
        # the header follows the identities, the delimiter and the signature: small frames
        parts = [f.bytes if len(f) < MESSAGE_CAP else b"" for f in frames[:8]]
        if DELIM not in parts:
            return
        try:
            header = json.loads(parts[parts.index(DELIM) + 2])
            msg_id = str(header["msg_id"])
        except (ValueError, KeyError, IndexError, TypeError):
            return
        self.requests[msg_id] = [self.output_cap, 0, False]
        while len(self.requests) > REQUESTS_KEPT:
            self.requests.popitem(last=False)

    # -- what the kernel sends ----------------------------------------------------------------
    def _from_kernel(self, name: str, frames: list[zmq.Frame]) -> list[list]:
        """The messages to forward for one message of the kernel's: itself, a note, or none."""
        size = sum(len(f) for f in frames)
        if name == "hb":
            return [frames] if size <= HB_CAP else []
        delim = [len(f) == len(DELIM) and f.bytes == DELIM for f in frames]
        if not any(delim):
            return []
        at = delim.index(True)
        idents, body = [f.bytes for f in frames[:at]], frames[at + 1:]
        if len(body) < 5 or size - sum(len(f) for f in body[4:]) > MESSAGE_CAP:
            return []   # header, parent and metadata are small in any honest message
        try:
            header, parent = json.loads(body[1].bytes), json.loads(body[2].bytes)
            if not (isinstance(header, dict) and isinstance(parent, dict)):
                return []
            msg_type = str(header.get("msg_type"))
            if not (name == "iopub" and msg_type in OUTPUTS):
                return [frames] if size <= MESSAGE_CAP and self.signer.valid(body) else []
            request = self.requests.get(str(parent.get("msg_id")))
            if request is None:
                return []   # an output for no request of the grader's: nbclient ignores it
            cap, used, noted = request
            if used >= 0 and used + size <= cap + MESSAGE_CAP:   # buffers count too
                if not self.signer.valid(body):
                    return []
                request[1] = used + size
                return [frames]
            request[1] = -1   # over: this request's outputs are dropped from here on
            if noted:
                return []
            request[2] = True
            return [self._note(idents, parent, cap)]
        except Exception:   # malformed: not forwarded
            return []

    def _note(self, idents: list[bytes], parent: dict, cap: int) -> list[bytes]:
        return self.signer.message(idents, "stream", {"name": "stderr", "text": note_text(cap)},
                                   parent)


def _url(info: dict, channel: str) -> str:
    port = info[f"{channel}_port"]
    if info.get("transport", "tcp") == "ipc":
        return f"ipc://{info['ip']}-{port}"
    return f"tcp://{info['ip']}:{port}"


def main(argv: list[str]) -> int:
    config_path, sep, *command = argv
    if sep != "--" or not command:
        print("usage: relay.py CONFIG.json -- COMMAND...", file=sys.stderr)
        return 2
    with open(config_path) as handle:
        config = json.load(handle)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # an interrupt is the kernel's, not ours
    # the grader that started this relay: gone already if it died during this start-up
    parent = int(config.get("grader", os.getppid()))
    context = zmq.Context()
    relay = Relay(config, context)
    if os.getppid() != parent:
        return 1
    child = subprocess.Popen(command)   # the sandbox; bwrap dies with this process
    def stop(signum: int, _frame: object) -> None:
        child.send_signal(signum)
    signal.signal(signal.SIGTERM, stop)
    # from here on this process may hold no more than `memory` (the child keeps its own limits)
    memory = int(config["memory"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    while child.poll() is None:
        if os.getppid() != parent:   # the grader is gone
            child.kill()
            child.wait()
            break
        relay.step(200)
        if relay.broken:   # the grader reads why the kernel stopped
            with open(os.path.join(os.path.dirname(config_path), "stopped"), "w") as handle:
                handle.write(relay.broken)
            child.kill()
            child.wait()
    code = child.returncode
    context.destroy(linger=0)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
