"""Host side: one board, probed, with this edgenas installed on it, and its agent one call away.

``connect`` probes the board's Python (a tiny script that any Python runs, so an old one is named, not
crashed on), installs the board-side wheel when this build is missing, and returns a ``Remote`` whose
``call`` runs ``python -m edgenas.agent`` in the board's work dir.
"""

import json
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..errors import EdgenasError
from .registry import BoardEntry
from .ssh import Connection, remote_command
from .wheel import build_id, build_wheel

MIN_PYTHON = (3, 8)
# Runs on any Python: the first line is the version, so a too-old one is reported, not crashed on.
PROBE = r"""import sys
sys.stdout.write("python %d.%d.%d\n" % tuple(sys.version_info[:3]))
if tuple(sys.version_info[:2]) >= (3, 8):
    import json, os, shutil
    wd = os.path.abspath(os.path.expanduser(sys.argv[1]))
    for d in ("incoming", "blobs", "jobs", "lib"):
        try:
            os.makedirs(os.path.join(wd, d), exist_ok=True)
        except OSError:
            pass
    p = wd
    while not os.path.isdir(p):
        p = os.path.dirname(p)
    st = os.statvfs(p)
    lib = os.path.join(wd, "lib", sys.argv[2])
    print(json.dumps({"workdir": wd, "free_bytes": st.f_bavail * st.f_frsize, "rsync": bool(shutil.which("rsync")),
                      "executable": sys.executable, "installed": os.path.isfile(os.path.join(lib, "INSTALLED"))}))
"""
# Verifies the uploaded wheel and unpacks it (a pure-Python wheel needs no pip) into lib/<build> atomically.
INSTALL = r"""import hashlib, os, shutil, sys, zipfile
whl, sha, lib, marker = sys.argv[1:5]
with open(whl, "rb") as f:
    got = hashlib.sha256(f.read()).hexdigest()
if got != sha:
    sys.exit("edgenas-install: error: the uploaded wheel is corrupt (sha256 mismatch); run the same command again")
tmp = "%s.tmp%d" % (lib, os.getpid())
try:
    zipfile.ZipFile(whl).extractall(tmp)
    with open(os.path.join(tmp, "INSTALLED"), "w") as f:
        f.write(sha + "\n")
    if os.path.isdir(lib):
        shutil.rmtree(lib)
    os.replace(tmp, lib)
    open(marker, "a").close()
except OSError as e:
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit("edgenas-install: error: %s (%s)" % (e.strerror or e, lib))
finally:
    os.unlink(whl)
"""


def stderr_log(board: str) -> Callable[[str], None]:
    def log(msg: str) -> None:
        sys.stderr.write("edgenas: {}: {}\n".format(board, msg))
        sys.stderr.flush()
    return log


def _mb(n: float) -> str:
    return "{:.1f} MB".format(n / 1e6)


class Remote:
    """A connected board: its absolute work dir, its Python, and the installed edgenas build."""

    def __init__(self, board: BoardEntry, accept_new_host_key: bool = False,
                 log: Optional[Callable[[str], None]] = None) -> None:
        self.board = board
        self.conn = Connection(board, accept_new_host_key)
        self.log = log or stderr_log(board.name)
        self.info: Dict[str, Any] = {}
        self.build = build_id()

    @property
    def workdir(self) -> str:
        return self.info["workdir"]

    @property
    def lib(self) -> str:
        return self.workdir + "/lib/" + self.build

    def probe(self) -> Dict[str, Any]:
        b = self.board
        proc = self.conn.run(remote_command([b.python, "-c", PROBE, b.workdir, self.build]), check=False)
        out = proc.stdout.decode("utf-8", "replace").splitlines()
        m = re.match(r"^python (\d+)\.(\d+)\.(\d+)$", out[0].strip()) if out else None
        if not m:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise EdgenasError("board '{}': '{}' did not run as Python (exit {}: {}); install Python >= 3.8 there or set "
                               "the board's python: edgenas board add {} {} --python /path/to/python3 --force".format(
                                   b.name, b.python, proc.returncode, err[-1] if err else "no output", b.name, b.url))
        version = tuple(int(x) for x in m.groups())
        if version[:2] < MIN_PYTHON:
            raise EdgenasError("board '{}' runs Python {} ('{}'); edgenas needs Python >= 3.8 on the board: install a newer "
                               "one and point the board at it: edgenas board add {} {} --python /usr/bin/python3.8 --force"
                               .format(b.name, ".".join(map(str, version)), b.python, b.name, b.url))
        if len(out) < 2:
            raise EdgenasError("board '{}': the Python probe failed: {}".format(
                b.name, proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or "no output"))
        self.info = dict(json.loads(out[1]), python=".".join(map(str, version)))
        self.conn.remote_rsync = bool(self.info["rsync"])
        return self.info

    def install(self) -> None:
        """Upload this build's wheel and unpack it under ``lib/<build>`` (checks free space first)."""
        import hashlib

        name, data, unpacked = build_wheel()
        need = len(data) + 2 * unpacked
        if self.info["free_bytes"] < need:
            raise EdgenasError("board '{}': {} free under {}, but installing edgenas needs {}; free space there or use "
                               "another workdir: edgenas board add {} {} --workdir DIR --force".format(
                                   self.board.name, _mb(self.info["free_bytes"]), self.workdir, _mb(need),
                                   self.board.name, self.board.url))
        self.log("installing edgenas {} into {}".format(self.build, self.lib))
        with tempfile.TemporaryDirectory(prefix="edgenas-wheel-") as tmp:
            local = Path(tmp) / (self.build + ".whl")
            local.write_bytes(data)
            self.conn.upload([local], self.workdir + "/incoming")
        sha = hashlib.sha256(data).hexdigest()
        self.conn.run(remote_command([self.board.python, "-c", INSTALL, self.workdir + "/incoming/" + self.build + ".whl",
                                      sha, self.lib, self.workdir + "/.edgenas-workdir"]))
        self.info["installed"] = True

    def agent_command(self, args: List[str]) -> str:
        return "cd {} && {}".format(shlex.quote(self.workdir), remote_command(
            ["env", "PYTHONPATH=" + self.lib, self.board.python, "-m", "edgenas.agent", "--workdir", self.workdir]
            + list(args)))

    def call(self, args: List[str], payload: Any = None, timeout: Optional[float] = 300) -> Any:
        """Run one agent command; its JSON answer, or its one-line error as an EdgenasError."""
        data = json.dumps(payload).encode() if payload is not None else b""
        proc = self.conn.run(self.agent_command(args), input=data, timeout=timeout, check=False)
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
            msg = lines[-1].replace("edgenas-agent: error: ", "") if lines else "exit {}".format(proc.returncode)
            raise EdgenasError("board '{}': {}".format(self.board.name, msg))
        return json.loads(proc.stdout.decode("utf-8") or "null")


def connect(board: BoardEntry, accept_new_host_key: bool = False, log: Optional[Callable[[str], None]] = None,
            reinstall: bool = False) -> Remote:
    """Probe ``board`` and make sure this edgenas build is installed there."""
    remote = Remote(board, accept_new_host_key, log)
    remote.probe()
    if reinstall or not remote.info["installed"]:
        remote.install()
    return remote


def readiness(remote: Remote, doctor: Dict[str, Any], backend: Optional[str]) -> List[str]:
    """What the board lacks for ``backend`` (None: any runtime that runs files), each with the line that installs it
    (the backend's spec.py)."""
    from ..backends.registry import all_backends, get_backend

    py = remote.board.python
    problems = []
    if not doctor.get("numpy"):
        problems.append("numpy is missing: {} -m pip install --user numpy (or: sudo apt-get install -y python3-numpy)".format(py))
    if backend is None:  # no target yet: any runtime that runs files will do
        runners = [b for b in all_backends() if b.runs and not b.needs_cuda]
        if not any(doctor.get(b.module) for b in all_backends() if b.runs):
            problems += ["{} is not installed ({} is missing): {}".format(b.title, b.module, b.install_line(py)) for b in runners]
        return problems
    spec = get_backend(backend)
    if spec.runs and not doctor.get(spec.module):  # a backend that runs files on the board needs its runtime there
        problems.append("{} is not installed ({} is missing): {}".format(spec.title, spec.module, spec.install_line(py)))
    if spec.needs_cuda and not (doctor.get("cudart") or doctor.get("cuda")):
        problems.append("the CUDA runtime (libcudart) was not found: install the CUDA toolkit / JetPack's cuda-runtime")
    return problems
