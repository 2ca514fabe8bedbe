"""A real OpenSSH server on 127.0.0.1 with throwaway keys, and the helpers the board tests share
(the ``sshd`` and ``env`` fixtures are registered in conftest.py, so one server serves the session).

The board is this machine reached through the loopback sshd, with the board's Python = this venv's
Python (or a real Python 3.8 / 3.6 where pyenv has one) and the board-side package installed from a
wheel into a temp work dir. The agent blocks torch and onnx on the board side.
"""

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def _client_config(path: Path, key: Path, known_hosts: Path) -> Path:
    path.write_text("Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile "
                    "/dev/null\n  LogLevel ERROR\n".format(key, known_hosts))
    return path


class Loopback:
    """A running sshd plus everything a board entry and the host's ssh need to reach it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.url = "ssh://{}@127.0.0.1:{}".format(getpass.getuser(), self.port)
        host_pub = _keygen(root / "host_key")
        (root / "authorized_keys").write_text(_keygen(root / "user_key") + "\n")
        _keygen(root / "wrong_key")
        (root / "known_hosts").write_text("[127.0.0.1]:{} {}\n".format(self.port, " ".join(host_pub.split()[:2])))
        self.config = _client_config(root / "ssh_config", root / "user_key", root / "known_hosts")
        self.control = root / "cm"
        self.control.mkdir(mode=0o700)
        cfg = root / "sshd_config"
        cfg.write_text("\n".join([
            "Port {}".format(self.port), "ListenAddress 127.0.0.1", "HostKey {}".format(root / "host_key"),
            "PidFile {}".format(root / "sshd.pid"), "AuthorizedKeysFile {}".format(root / "authorized_keys"),
            "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "StrictModes no", "UsePAM no", "MaxStartups 50", "MaxSessions 50",
            "Subsystem sftp internal-sftp"]) + "\n")
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)
        self.log = open(str(root / "sshd.log"), "wb")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)], stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        if self.proc.poll() is not None:
            pytest.skip("sshd did not start: " + (root / "sshd.log").read_text()[-300:])

    def env(self, boards: Path, config: Path = None) -> dict:
        return {"EDGENAS_BOARDS": str(boards), "EDGENAS_SSH_CONFIG": str(config or self.config),
                "EDGENAS_SSH_CONTROL_DIR": str(self.control)}

    def close(self) -> None:
        for sock in self.control.iterdir():
            if sock.is_socket():
                subprocess.run(["ssh", "-S", str(sock), "-O", "exit", "x"], capture_output=True)
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    loop = Loopback(tmp_path_factory.mktemp("sshd"))
    yield loop
    loop.close()


def write_boards(path: Path, **boards) -> Path:
    path.write_text(yaml.safe_dump({"boards": boards}))
    return path


def board(sshd, workdir: Path, **kw) -> dict:
    return dict({"url": sshd.url, "python": sys.executable, "workdir": str(workdir), "connect_timeout": 3}, **kw)


def cli(env: dict, *args, check=None):
    proc = subprocess.run([sys.executable, "-m", "edgenas", *map(str, args)], capture_output=True, text=True,
                          cwd=str(ROOT), env=dict(os.environ, **env), timeout=120)
    if check is not None:
        assert proc.returncode == check, proc.stderr + proc.stdout
    return proc


def one_line_error(proc) -> str:
    assert proc.returncode == 1, proc.stderr + proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("edgenas: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


@pytest.fixture
def env(sshd, tmp_path, monkeypatch):
    """A registry with board 'loop' (work dir with a space in its name); the API sees it too."""
    boards = write_boards(tmp_path / "boards.yaml", loop=board(sshd, tmp_path / "board work"))
    e = sshd.env(boards)
    for k, v in e.items():
        monkeypatch.setenv(k, v)
    return e


def _keys(path) -> set:
    return set(json.loads(Path(path).read_text())["entries"])

needs_openssh = pytest.mark.skipif(not (os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen")),
                                reason="needs OpenSSH (apt-get install openssh-server openssh-client)")
