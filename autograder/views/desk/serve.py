"""Serving the desk: uvicorn on a socket bound here (so that `--port 0` gets a free port that
the printed URL names), on loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

from ...course.config import Course
from ...course.errors import CnnGradeError
from .app import make_app
from .security import new_token

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass
class Served:
    url: str          # what to open: the token is in it
    host: str
    port: int
    remote: bool      # reachable from other machines (--allow-remote): warn


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one); one sentence when it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CnnGradeError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}); choose "
                            "another --port (0 picks a free one).") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(course: Course, host: str = "127.0.0.1", port: int = 0, grader: str | None = None,
          allow_remote: bool = False, token: str | None = None,
          on_ready: Callable[[Served], None] | None = None) -> None:
    """Run the desk until Ctrl-C. A host other than loopback needs `allow_remote` (the token is
    then the only protection, over plain HTTP)."""
    import uvicorn
    if not is_loopback(host) and not allow_remote:
        raise CnnGradeError(f"--host {host} would let other machines reach the desk; it "
                            "listens on 127.0.0.1 unless you add --allow-remote (then anyone "
                            "with the printed URL can grade, over plain HTTP).")
    course.slugs()   # a broken course is one sentence before anything listens
    token = token or new_token()
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    if on_ready is not None:
        on_ready(Served(f"http://{shown}:{bound}/?token={token}", host, bound,
                        not is_loopback(host)))
    config = uvicorn.Config(make_app(course, token, grader), log_level="warning",
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:   # uvicorn shuts down on Ctrl-C, then raises the signal again
        pass
    finally:
        sock.close()
