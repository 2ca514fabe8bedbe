"""Board side: the content-addressed file store under the work dir, and cleaning it.

Layout of the work dir P (one prefix for everything edgenas writes on a board):
  P/.edgenas-workdir   marker: only a directory holding it is ever cleaned
  P/incoming/<sha256>  uploads in flight, named by the hash they must have
  P/blobs/<sha256>     verified files, read-only, hard-linked into job directories
  P/jobs/<id>/         one directory per remote job (inputs, log, progress, outputs)
  P/lib/<version>-<build>/   the installed board-side package
  P/cache/<target>-trt<version>.timing.cache   TensorRT timing caches kept across engine builds

Stdlib only, Python 3.8.
"""

import errno
import hashlib
import os
import re
import shutil
from typing import Any, Dict, List

from ..errors import EdgenasError

MARKER = ".edgenas-workdir"
SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def sha256_path(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def free_bytes(path: str) -> int:
    while not os.path.isdir(path):
        path = os.path.dirname(path) or "/"
    st = os.statvfs(path)
    return int(st.f_bavail * st.f_frsize)


def disk_full(workdir: str, err: OSError) -> EdgenasError:
    return EdgenasError("the board's disk is full under {} ({}; {} bytes free); free space there or use another "
                        "workdir".format(workdir, err.strerror, free_bytes(workdir)))


def safe_rel(rel: str) -> str:
    """A relative path that stays inside its directory (no absolute paths, no '..', no NUL)."""
    parts = rel.replace("\\", "/").split("/")
    if not rel or rel.startswith("/") or "\x00" in rel or any(p in ("", ".", "..") for p in parts):
        raise EdgenasError("refusing file name {!r}: it must be a plain relative path".format(rel))
    return "/".join(parts)


def _checked_hashes(hashes: List[str]) -> List[str]:
    bad = [h for h in hashes if not isinstance(h, str) or not SHA_RE.match(h)]
    if bad:
        raise EdgenasError("not a sha256: {!r}".format(bad[0]))
    return hashes


def need(workdir: str, hashes: List[str]) -> Dict[str, Any]:
    """Which of ``hashes`` the store lacks, and the free space the upload may use."""
    blobs = os.path.join(workdir, "blobs")
    missing = [h for h in _checked_hashes(hashes) if not os.path.isfile(os.path.join(blobs, h))]
    for d in ("incoming", "blobs"):
        os.makedirs(os.path.join(workdir, d), exist_ok=True)
    open(os.path.join(workdir, MARKER), "a").close()
    return {"missing": sorted(set(missing)), "free_bytes": free_bytes(workdir)}


def _ingest(workdir: str, sha: str) -> str:
    """Move ``incoming/<sha>`` into ``blobs/`` if its content matches; '' when fine, else the problem."""
    blob = os.path.join(workdir, "blobs", sha)
    if os.path.isfile(blob):
        return ""
    src = os.path.join(workdir, "incoming", sha)
    if not os.path.isfile(src):
        return "never arrived"
    got = sha256_path(src)
    if got != sha:
        os.unlink(src)
        return "arrived corrupt (sha256 {}...)".format(got[:12])
    os.chmod(src, 0o444)
    os.replace(src, blob)
    return ""


def _place(blob: str, dest: str) -> None:
    """Put ``blob`` at ``dest`` atomically: a hard link where possible, else a copy."""
    if os.path.exists(dest) and os.path.samefile(blob, dest):
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = "{}.tmp{}".format(dest, os.getpid())
    try:
        os.link(blob, tmp)
    except OSError:
        shutil.copyfile(blob, tmp)
    os.replace(tmp, dest)


def stage(workdir: str, dest_rel: str, files: Dict[str, str]) -> Dict[str, Any]:
    """Verify the uploads for ``files`` ({relative name: sha256}) and lay them out under ``P/dest_rel``."""
    dest = os.path.join(workdir, safe_rel(dest_rel))
    _checked_hashes(list(files.values()))
    placed = {safe_rel(rel): sha for rel, sha in files.items()}
    try:
        bad = {}
        for sha in sorted(set(placed.values())):
            problem = _ingest(workdir, sha)
            if problem:
                bad[sha] = problem
        if bad:
            names = [rel for rel, sha in placed.items() if sha in bad]
            raise EdgenasError("upload verification failed for {} file(s), e.g. {!r}: {}; run the same command again "
                               "to re-upload".format(len(names), names[0], bad[placed[names[0]]]))
        for rel, sha in sorted(placed.items()):
            _place(os.path.join(workdir, "blobs", sha), os.path.join(dest, rel))
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full(workdir, e)
        raise
    return {"staged": len(placed), "dir": dest}


OWN_NAMES = {"jobs": re.compile(r"^[0-9a-f]{16}$"), "blobs": SHA_RE, "lib": re.compile(r"^[0-9][^/]*-[0-9a-f]{12}(\.tmp\d+)?$"),
             "incoming": re.compile(r"^\.?([0-9a-f]{64}|[0-9][^/]*-[0-9a-f]{12}\.whl)(\.[A-Za-z0-9]{6})?$"),
             "cache": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.timing\.cache(\.lock)?$")}


def clean(workdir: str, everything: bool, running: List[str], current_build: str = "") -> Dict[str, Any]:
    """Remove jobs (except ``running`` ones), uploads, the store and older installed builds; with
    ``everything``, also the current build, the timing caches and the marker. Only names edgenas made are
    removed, so a work dir shared with the user's own files loses none of them."""
    if not os.path.isdir(workdir):
        return {"removed": [], "kept": []}
    if not os.path.isfile(os.path.join(workdir, MARKER)):
        raise EdgenasError("{} has no {} marker, so it was not made by edgenas; refusing to clean it".format(workdir, MARKER))
    removed, kept = [], []
    for sub in ("jobs", "incoming", "blobs", "lib") + (("cache",) if everything else ()):
        path = os.path.join(workdir, sub)
        for name in sorted(os.listdir(path)) if os.path.isdir(path) else []:
            if not OWN_NAMES[sub].match(name) or (sub == "lib" and name == current_build and not everything):
                continue
            if sub == "jobs" and name in running:
                kept.append("jobs/" + name)
                continue
            target = os.path.join(path, name)
            shutil.rmtree(target, ignore_errors=True) if os.path.isdir(target) else os.unlink(target)
            removed.append("{}/{}".format(sub, name))
        if os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)
    if everything and not kept and not [n for n in os.listdir(workdir) if n != MARKER]:
        os.unlink(os.path.join(workdir, MARKER))
        os.rmdir(workdir)
    return {"removed": removed, "kept": kept}
