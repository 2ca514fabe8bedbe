"""Host side: put files on a board by content hash, uploading only what its store lacks.

1. hash the local files (sha256, cached by path, size and mtime);
2. ask the board's store which hashes it lacks (one call), with its free space;
3. upload those, each named by its hash, so no user file name ever reaches a remote path or shell;
4. the board re-hashes each upload before keeping it, then lays the files out under their real
   names (hard links into the job directory).
"""

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Dict, Tuple, Union

from ..errors import EdgenasError
from .remote import Remote, _mb

DEFAULT_MAX_UPLOAD = 2 << 30  # 2 GiB
Source = Union[Path, str, bytes]  # a local file, or the file's content

_cache: Dict[Tuple[str, int, int], str] = {}
_cache_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    h = hashlib.sha256()
    with open(str(path), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    with _cache_lock:
        _cache[key] = h.hexdigest()
    return _cache[key]


def push(remote: Remote, dest_rel: str, files: Dict[str, Source], max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> Dict[str, str]:
    """Make ``P/dest_rel/<name>`` hold each of ``files`` on the board. Returns {name: sha256}."""
    with tempfile.TemporaryDirectory(prefix="edgenas-push-") as tmp:
        staged: Dict[str, Path] = {}  # sha -> local file
        names: Dict[str, str] = {}
        for name, src in files.items():
            if isinstance(src, bytes):
                sha = hashlib.sha256(src).hexdigest()
                path = Path(tmp) / ("b-" + sha)
                path.write_bytes(src)
            else:
                path = Path(src)
                if not path.is_file():
                    raise EdgenasError("cannot upload {}: no such file".format(path))
                sha = file_sha256(path)
            names[name] = sha
            staged[sha] = path
        answer = remote.call(["need"], payload=sorted(staged))
        missing = answer["missing"]
        size = sum(staged[s].stat().st_size for s in missing)
        if size > max_upload_bytes:
            raise EdgenasError("board '{}': the upload would be {}, over the {} cap; raise it with --max-upload-mb if that "
                               "is intended".format(remote.board.name, _mb(size), _mb(max_upload_bytes)))
        if size * 1.05 + (1 << 20) > answer["free_bytes"]:
            raise EdgenasError("board '{}': its disk is full: {} free under {}, but the upload needs {}; free space there "
                               "(edgenas board clean {}) or use another workdir: edgenas board add {} {} --workdir DIR "
                               "--force".format(remote.board.name, _mb(answer["free_bytes"]), remote.workdir, _mb(size),
                                                remote.board.name, remote.board.name, remote.board.url))
        if missing:
            remote.log("uploading {} of {} files ({})".format(len(missing), len(staged), _mb(size)))
            links = Path(tmp) / "by-hash"
            links.mkdir()
            for sha in missing:  # named by hash: the only name that crosses the wire
                os.symlink(str(staged[sha].resolve()), str(links / sha))
            remote.conn.upload(sorted(links.iterdir()), remote.workdir + "/incoming")
        remote.call(["stage", dest_rel], payload=names)
    return names
