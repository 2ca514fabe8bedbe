"""Reach a board through the system's OpenSSH client (and rsync where both ends have it, scp otherwise).

Host side. Every process is started from an argv list (never a host shell); every word of a remote
command is quoted. Keys, agents, ProxyJump and ports come from the user's ``~/.ssh/config``;
``$EDGENAS_SSH_CONFIG`` replaces that file (the tests use it). One ControlMaster connection per board
is shared by the short calls that follow.
"""

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

from ..errors import EdgenasError
from .registry import BoardEntry

CONTROL_PERSIST_S = 60
SHORT_CALL_S = 300


def rq(word: str) -> str:
    """Quote one word of a remote command; a leading ``~/`` stays unquoted so the remote shell expands it."""
    word = str(word)
    if word == "~":
        return "~"
    if word.startswith("~/"):
        return "~/" + shlex.quote(word[2:])
    return shlex.quote(word)


def remote_command(words: Sequence[str]) -> str:
    return " ".join(rq(w) for w in words)


def _tail(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip() and not ln.startswith("debug")]
    return lines[-1] if lines else ""


class Connection:
    """ssh/rsync/scp for one board. ``run`` raises a one-line EdgenasError when ssh itself fails."""

    def __init__(self, board: BoardEntry, accept_new_host_key: bool = False) -> None:
        if shutil.which("ssh") is None:
            raise EdgenasError("the OpenSSH client 'ssh' is not installed on this host; install it "
                               "(apt-get install openssh-client) to drive boards")
        self.board = board
        self.accept_new = accept_new_host_key
        self.remote_rsync = False  # set from the board's probe
        self.config = os.environ.get("EDGENAS_SSH_CONFIG")
        self.control = self._control_path()
        self._master_checked = False

    # ---- argv building -------------------------------------------------------------------
    def _options(self, master: bool = False) -> List[str]:
        b = self.board
        opts = ["-F", self.config] if self.config else []
        # Ours first: ssh keeps the first value of an option, so these cannot be overridden.
        opts += ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=" + ("accept-new" if self.accept_new else "yes")]
        for o in b.ssh_options:
            opts += ["-o", o]
        opts += ["-o", "ConnectTimeout={}".format(b.connect_timeout), "-o", "ServerAliveInterval=5",
                 "-o", "ServerAliveCountMax=3"]
        if self.control:
            opts += ["-o", "ControlPath=" + self.control]
            opts += ["-o", "ControlMaster=yes", "-o", "ControlPersist={}".format(CONTROL_PERSIST_S)] if master else \
                ["-o", "ControlMaster=no"]  # no master (yet, or any more): connect directly
        return opts

    def ssh_argv(self, command: Optional[str] = None, extra: Sequence[str] = (), master: bool = False) -> List[str]:
        b = self.board
        argv = ["ssh"] + self._options(master) + list(extra)
        if b.port:
            argv += ["-p", str(b.port)]
        if b.user:
            argv += ["-l", b.user]
        argv += ["--", b.host]
        return argv + ([command] if command is not None else [])

    def login_hint(self) -> str:
        b = self.board
        return "ssh {}{}{}".format("-p {} ".format(b.port) if b.port else "", b.user + "@" if b.user else "", b.host)

    def _remote(self, path: str) -> str:
        host = "[{}]".format(self.board.host) if ":" in self.board.host else self.board.host
        return "{}{}:{}".format(self.board.user + "@" if self.board.user else "", host, path)

    # ---- connection sharing -------------------------------------------------------------
    def _control_path(self) -> Optional[str]:
        if os.name != "posix" or os.environ.get("EDGENAS_SSH_CONTROL") == "0":
            return None
        base = os.environ.get("EDGENAS_SSH_CONTROL_DIR") or "/tmp/edgenas-ssh-{}".format(os.getuid())
        # A full name of our own (no %C), so a stale socket can be recognised and removed.
        key = "\0".join([self.config or "", self.board.url, str(self.accept_new)] + self.board.ssh_options)
        path = os.path.join(base, hashlib.sha256(key.encode()).hexdigest()[:24])
        return path if len(path) < 100 else None  # unix socket paths are limited to ~104 bytes

    def _private_dir(self) -> bool:
        """The socket's directory exists, is ours and no one else's (else: no multiplexing, no risk)."""
        base = os.path.dirname(self.control)
        try:
            os.makedirs(base, mode=0o700, exist_ok=True)
            st = os.lstat(base)
        except OSError:
            return False
        return st.st_uid == os.getuid() and not st.st_mode & 0o077 and os.path.isdir(base) and not os.path.islink(base)

    def _ensure_master(self) -> None:
        """Start the shared connection once (under a lock: parallel boards may share a host)."""
        if not self.control or self._master_checked:
            return
        self._master_checked = True
        if not self._private_dir():
            self.control = None
            return
        import fcntl  # POSIX only, like ControlMaster itself

        lock_path = os.path.join(os.path.dirname(self.control), "lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            check = subprocess.run(self.ssh_argv(extra=["-O", "check"]), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if check.returncode == 0:
                return
            if os.path.exists(self.control):
                # A dead master's socket: ssh would keep it and start a plain, never-ending connection instead.
                os.unlink(self.control)
            argv = self.ssh_argv(extra=["-N", "-f"], master=True)
            # The backgrounded master keeps the stderr it was given: a file, never a pipe we wait on.
            with tempfile.TemporaryFile() as err:
                try:
                    rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                        timeout=self.board.connect_timeout + 30).returncode
                except subprocess.TimeoutExpired:
                    raise self.error(255, "Connection timed out")
                err.seek(0)
                text = err.read().decode("utf-8", "replace")
            if rc != 0:
                raise self.error(rc, text)

    def close(self) -> None:
        if self.control:
            subprocess.run(self.ssh_argv(extra=["-O", "exit"]), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # ---- commands ------------------------------------------------------------------------
    def run(self, command: str, input: Optional[bytes] = None, timeout: Optional[float] = SHORT_CALL_S,
            check: bool = True) -> subprocess.CompletedProcess:
        """Run ``command`` (already quoted) on the board. ssh failures (exit 255) raise; with ``check``,
        so does a failing remote command, with its last stderr line."""
        self._ensure_master()
        try:
            proc = subprocess.run(self.ssh_argv(command), input=input if input is not None else b"",
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EdgenasError("board '{}' ({}): no answer within {:.0f} s; is it overloaded or gone? "
                               "Check with: {}".format(self.board.name, self.board.url, timeout, self.login_hint()))
        if proc.returncode == 255 or proc.returncode < 0:
            raise self.error(proc.returncode, proc.stderr.decode("utf-8", "replace"))
        if check and proc.returncode != 0:
            raise EdgenasError("board '{}': {}".format(self.board.name, _tail(proc.stderr.decode("utf-8", "replace"))
                                                       or "remote command failed with exit {}".format(proc.returncode)))
        return proc

    def popen(self, command: str, stderr) -> subprocess.Popen:
        """A streaming remote command: read its stdout line by line."""
        self._ensure_master()
        return subprocess.Popen(self.ssh_argv(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)

    # ---- file transfer ------------------------------------------------------------------
    def _rsync(self) -> bool:
        if self.board.transfer != "auto":
            return self.board.transfer == "rsync"
        return self.remote_rsync and shutil.which("rsync") is not None

    def transfer_tool(self) -> str:
        return "rsync" if self._rsync() else "scp"

    def _transfer(self, sources: List[str], dest: str, what: str) -> None:
        self._ensure_master()
        b = self.board
        if self._rsync():
            ssh = ["ssh"] + self._options() + (["-p", str(b.port)] if b.port else [])
            argv = ["rsync", "-s", "-L", "--partial", "--timeout=60", "-e", " ".join(shlex.quote(a) for a in ssh), "--"]
        else:
            argv = ["scp", "-q", "-p"] + self._options() + (["-P", str(b.port)] if b.port else []) + ["--"]
        proc = subprocess.run(argv + sources + [dest], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        if proc.returncode != 0:
            text = proc.stderr.decode("utf-8", "replace")
            if "No space left" in text or "Disk quota" in text:
                raise EdgenasError("board '{}': {} failed, its disk is full under {} ({}); free space there or point "
                                   "the board at a bigger disk with: edgenas board add {} {} --workdir DIR --force".format(
                                       b.name, what, b.workdir, _tail(text), b.name, b.url))
            if proc.returncode == 255 or "connection" in text.lower() or "ssh" in _tail(text).lower():
                raise self.error(255, text)
            raise EdgenasError("board '{}': {} failed ({}: {})".format(b.name, what, argv[0], _tail(text) or proc.returncode))

    def upload(self, local_files: List[Path], remote_dir: str) -> None:
        """Copy ``local_files`` (keeping their base names) into the existing ``remote_dir``."""
        if local_files:
            self._transfer([str(p) for p in local_files], self._remote(remote_dir.rstrip("/") + "/"), "upload")

    def download(self, remote_path: str, local_path: Path) -> None:
        self._transfer([self._remote(remote_path)], str(local_path), "download of " + remote_path)

    # ---- errors --------------------------------------------------------------------------
    def reason(self, rc: int, stderr: str) -> str:
        """What went wrong with the connection, and how to fix it."""
        b, text = self.board, stderr or ""
        low = text.lower()
        if "remote host identification has changed" in low:
            return ("its host key CHANGED since the last contact (a reinstalled board, or someone in between); if the "
                    "board was reinstalled, remove the old key with: ssh-keygen -R {}".format(b.host))
        if "host key is known" in low or "host key verification failed" in low:
            return ("its host key is not in known_hosts and host-key checking is on; check the key and connect once with "
                    "--accept-new-host-key (or add it with ssh-keyscan)")
        if "permission denied" in low:
            return ("login refused ({}); load the right key into ssh-agent or set IdentityFile for this host in "
                    "~/.ssh/config; test with: {}".format(_tail(text), self.login_hint()))
        if "could not resolve hostname" in low:
            return "cannot resolve host name '{}'; check the url or ~/.ssh/config".format(b.host)
        if "connection refused" in low:
            return "connection refused: nothing listens for ssh on {}:{}; is sshd running on the board?".format(
                b.host, b.port or 22)
        if "not responding" in low or "connection closed" in low or "broken pipe" in low or "reset by peer" in low:
            return "the connection dropped ({})".format(_tail(text))
        if "timed out" in low:
            return ("no answer within {} s ({}); is the board on and on this network? (raise connect_timeout in "
                    "boards.yaml for slow links)".format(b.connect_timeout, _tail(text)))
        if "no route to host" in low or "network is unreachable" in low:
            return "unreachable ({}); is the board on and on this network?".format(_tail(text))
        if rc < 0:
            return "the ssh client was killed (signal {})".format(-rc)
        return _tail(text) or ("the connection was lost (ssh exit 255)" if rc == 255 else "ssh failed with exit {}".format(rc))

    def error(self, rc: int, stderr: str) -> EdgenasError:
        return EdgenasError("board '{}' ({}): {}".format(self.board.name, self.board.url, self.reason(rc, stderr)))
