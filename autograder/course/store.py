"""Content-addressed, immutable storage of every collected original: `store/ab/abcdef....`.
A file is written once (write, fsync, rename, fsync of the folder) and made read-only; it is never
changed or removed (only written again if found damaged on disk).

Crash safety: a file under its final name is always complete, because it only gets there by a
rename of a fully written and synced temporary (`.<name>.<random>.tmp` beside it). A writer killed
before the rename leaves that temporary behind: nothing reads it (every reader asks for a final
name), and the next write of the same path removes it once no live writer holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import tempfile
import time
from pathlib import Path

TMP_SUFFIX = ".tmp"
STALE_AFTER = 60.0   # seconds: a temporary this old whose writer holds no lock is a dead one's


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make the entries of `folder` (a rename into it, a new file) durable."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(folder: Path) -> None:
    """`mkdir -p folder`, each folder it creates made durable in its parent."""
    missing = []
    while not folder.is_dir() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
        fsync_dir(new.parent)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so that a reader (or a crash) sees the old file or the new one,
    and the new one survives a power loss once this returns."""
    _make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            with contextlib.suppress(OSError):   # held until renamed: a live temporary
                fcntl.flock(handle, fcntl.LOCK_EX)   # (where locks fail, none is removed)
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    remove_stale_temporaries(path)


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporaries that writers of `path` killed before their rename left behind (no
    lock held on them, and older than STALE_AFTER); returns them."""
    removed = []
    for name in glob.glob(f".{glob.escape(path.name)}.*{TMP_SUFFIX}", root_dir=path.parent):
        stray = path.parent / name
        try:
            fd = os.open(stray, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            info = os.fstat(fd)
            if (time.time() - info.st_mtime >= STALE_AFTER
                    and os.stat(stray).st_ino == info.st_ino):
                os.unlink(stray)
                removed.append(stray)
        except OSError:   # a live writer holds it, or it went away meanwhile
            pass
        finally:
            os.close(fd)
    return removed


class Store:
    def __init__(self, root: Path):
        self.root = root

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store `data`; returns its sha256. Once this returns the file is on disk, so a
        gradebook row that names the digest can be committed after it."""
        digest = sha256(data)
        target = self.path(digest)
        if self._intact(target, digest):
            fsync_dir(target.parent)   # its writer may have been killed before syncing this
            remove_stale_temporaries(target)
        else:   # absent (or damaged on disk): write it whole
            atomic_write(target, data, mode=0o444)
        return digest

    def get(self, digest: str) -> bytes:
        data = self.path(digest).read_bytes()
        if sha256(data) != digest:
            raise OSError(f"stored file {self.path(digest)} does not match its hash")
        return data

    def verify(self) -> list[str]:
        """The digests whose stored file does not match its hash (temporaries are not stored
        files and are skipped); empty when the store is sound."""
        return [path.name for path in sorted(self.root.glob("??/*"))
                if not path.name.startswith(".") and not self._intact(path, path.name)]

    @staticmethod
    def _intact(path: Path, digest: str) -> bool:
        try:
            return sha256(path.read_bytes()) == digest
        except FileNotFoundError:
            return False
