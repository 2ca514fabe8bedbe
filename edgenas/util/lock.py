"""One writer per output: a lock file beside what a job writes (a bundle, a table, a run folder) that
says which process holds it, so a second job refuses with a one-line message instead of interleaving
files. The lock is an fcntl lock, released by the kernel when its process dies (no stale locks)."""

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Iterator

from ..errors import EdgenasError


@contextlib.contextmanager
def exclusive(path, what: str) -> Iterator[None]:
    """Hold ``path`` (a lock file) for the duration; refuse if another live process holds it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(p), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
            raise EdgenasError("{} is in use by {}; wait for it to finish or stop it (lock {})".format(what, holder, p))
        info = "pid {} ({}) since {}".format(os.getpid(), " ".join(sys.argv[:3])[:80], time.strftime("%H:%M:%S"))
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        yield
    finally:
        os.close(fd)
