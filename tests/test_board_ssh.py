"""Boards over a real OpenSSH server on 127.0.0.1 (throwaway keys, no mocks): the registry, setup,
remote profiling that survives killed links and dead jobs, and every bad input. Skips with a reason
where sshd or ssh is missing. Build, validate and the pipeline on a board: test_board_deploy.py."""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, fast_target
from .loopback_ssh import (
    _client_config,
    _free_port,
    _keys,
    board,
    cli,
    needs_openssh,
    one_line_error,
    write_boards,
)

pytestmark = needs_openssh


# ---- registry and CLI basics --------------------------------------------------------------------------------

def test_board_add_list_show_remove(tmp_path):
    e = {"EDGENAS_BOARDS": str(tmp_path / "cfg" / "boards.yaml")}
    cli(e, "board", "add", "orin", "ssh://nvidia@10.0.0.7:2222", "--target", "jetson-orin-nano-trt-fp16",
        "--ssh-option", "IdentityFile=~/.ssh/id_orin", check=0)
    saved = yaml.safe_load((tmp_path / "cfg" / "boards.yaml").read_text())["boards"]["orin"]
    assert saved == {"url": "ssh://nvidia@10.0.0.7:2222", "target": "jetson-orin-nano-trt-fp16",
                     "ssh_options": ["IdentityFile=~/.ssh/id_orin"]}
    assert "already exists" in one_line_error(cli(e, "board", "add", "orin", "ssh://x"))
    assert "orin" in cli(e, "board", "list", check=0).stdout
    assert "ssh -p 2222 nvidia@10.0.0.7" in cli(e, "board", "show", "orin", check=0).stdout
    assert "did you mean 'orin'" in one_line_error(cli(e, "board", "show", "orn"))
    assert "unknown target" in one_line_error(cli(e, "board", "add", "x", "ssh://h", "--target", "jetson-orin"))
    cli(e, "board", "remove", "orin", check=0)
    assert "no boards" in cli(e, "board", "list", check=0).stdout


@pytest.mark.parametrize("name", ["or;in", "a b", "$(touch x)", "-oProxyCommand=x", "../up"])
def test_board_name_with_shell_metacharacters_is_refused(tmp_path, name):
    e = {"EDGENAS_BOARDS": str(tmp_path / "boards.yaml")}
    assert "not allowed" in one_line_error(cli(e, "board", "add", "--", name, "ssh://h"))
    assert "not allowed" in one_line_error(cli(e, "board", "profile", "--out", "t.json", "--", name))
    assert not (tmp_path / "boards.yaml").exists()


@pytest.mark.parametrize("url", ["ssh://h;rm -rf ~", "ssh://-oProxyCommand=sh", "nvidia@10.0.0.7", "ssh://u@h:99999"])
def test_bad_board_url_is_refused(tmp_path, url):
    e = {"EDGENAS_BOARDS": str(tmp_path / "boards.yaml")}
    assert "ssh://" in one_line_error(cli(e, "board", "add", "b", "--", url))


def test_unknown_board(env):
    assert "unknown board 'lop' (did you mean 'loop'?)" in one_line_error(cli(env, "board", "setup", "lop"))


# ---- setup and profile through the loopback sshd ----------------------------------------------------------------

def test_setup_installs_a_torch_free_board_side_and_runs_doctor(sshd, tmp_path, monkeypatch):
    boards = write_boards(tmp_path / "boards.yaml", loop=board(sshd, tmp_path / "board work", target="cpu-x86-ort-fp32"))
    for k, v in sshd.env(boards).items():
        monkeypatch.setenv(k, v)
    proc = cli(sshd.env(boards), "board", "setup", "loop", check=0)
    assert "installing edgenas" in proc.stderr
    assert "edgenas doctor: target cpu-x86-ort-fp32" in proc.stdout and "board loop is ready" in proc.stdout
    from edgenas.board.api import setup_board

    report = setup_board("loop")
    assert report["env"]["torch_blocked"] and report["ready"] and report["transfer"] == "rsync"
    lib = str(tmp_path / "board work" / "lib")
    assert report["env"]["edgenas_path"].startswith(lib), report["env"]["edgenas_path"]  # the wheel, not the checkout


def test_profile_on_two_boards_in_parallel_matches_local(sshd, tmp_path, tiny_bundle, tiny_table, monkeypatch):
    bundle, _ = tiny_bundle
    boards = write_boards(tmp_path / "boards.yaml", a=board(sshd, tmp_path / "wa"),
                          b=board(sshd, tmp_path / "w b;c", transfer="scp"))
    target = fast_target(tmp_path)
    proc = cli(sshd.env(boards), "board", "profile", "a,b", "--bundle", bundle, "--target", target,
               "--out", tmp_path / "out" / "T-{board}.json", "--quiet", check=0)
    local = _keys(tiny_table)
    for name in ("a", "b"):
        table = tmp_path / "out" / "T-{}.json".format(name)
        assert _keys(table) == local
        assert "torch" not in json.loads(table.read_text())["header"]["software"]
    assert proc.stderr.count("uploading") == 2
    # Again: the finished jobs are found and their tables fetched, nothing uploaded or measured twice.
    for k, v in sshd.env(boards).items():
        monkeypatch.setenv(k, v)
    from edgenas.board.api import remote_profile

    again = remote_profile(["a"], bundle, [tmp_path / "again" / "T-a.json"], target=str(target), show_progress=False)
    assert _keys(again[0]) == local
    runs = list((tmp_path / "wa" / "jobs").glob("*/runs.log"))
    assert len(runs) == 1 and len(runs[0].read_text().splitlines()) == 1
    remote_profile("a", bundle, tmp_path / "again" / "T-a.json", target=str(target), show_progress=False, fresh=True)
    assert len(runs[0].read_text().splitlines()) == 2  # --fresh measures again
    # Clean: jobs and the file store go; --all also removes the package and the (now empty) work dir.
    cli(sshd.env(boards), "board", "clean", "a", check=0)
    assert not list((tmp_path / "wa").glob("jobs/*")) and not (tmp_path / "wa" / "blobs").exists()
    assert (tmp_path / "wa" / "lib").is_dir()
    cli(sshd.env(boards), "board", "clean", "b", "--all", check=0)
    assert not (tmp_path / "w b;c").exists()


def _job_dir(workdir: Path, host: subprocess.Popen, timeout: float = 60) -> Path:
    """The remote job's directory, once its first checkpoint is written (the "board" is this machine)."""
    deadline = time.time() + timeout
    while time.time() < deadline and host.poll() is None:
        found = list(workdir.glob("jobs/*/table.json.partial.json"))
        if found:
            return found[0].parent
        time.sleep(0.1)
    raise AssertionError("no remote checkpoint under {}: {}".format(workdir, host.communicate()[1] if host.poll() else ""))


def _ssh_children(pid: int) -> list:
    out = subprocess.run(["ps", "-o", "pid=,ppid=,comm=", "-A"], capture_output=True, text=True).stdout.split("\n")
    rows = [ln.split(None, 2) for ln in out if ln.strip()]
    return [int(p) for p, pp, comm in rows if int(pp) == pid and comm.strip() == "ssh"]


def test_killed_connection_and_host_reattach_to_one_remote_job(env, tmp_path, tiny_bundle, tiny_table):
    bundle, _ = tiny_bundle
    target = fast_target(tmp_path, rounds=12, min_round_ms=60.0)  # ~11 s on the board here
    out = tmp_path / "T.json"
    argv = [sys.executable, "-m", "edgenas", "board", "profile", "loop", "--bundle", str(bundle), "--target",
            str(target), "--out", str(out), "--quiet"]
    run_env = dict(os.environ, **env)
    # 1. kill the ssh client that streams progress: one-line error that says how to resume
    host = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env,
                            cwd=str(ROOT), start_new_session=True)
    job = _job_dir(tmp_path / "board work", host)
    deadline = time.time() + 20
    while not _ssh_children(host.pid) and time.time() < deadline:
        time.sleep(0.05)
    for pid in _ssh_children(host.pid):
        os.kill(pid, signal.SIGKILL)
    _, err = host.communicate(timeout=30)
    assert host.returncode == 1, err
    line = [ln for ln in err.splitlines() if "error" in ln]
    assert len(line) == 1 and "stopped answering" in line[0] and "run the same command again" in line[0], err
    # 2. kill the whole host command (process group)
    host = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env,
                            cwd=str(ROOT), start_new_session=True)
    time.sleep(1.5)
    os.killpg(host.pid, signal.SIGKILL)
    host.communicate()
    assert (job / "job.pid").is_file() and not (job / "result.json").exists(), "the job should still be running"
    # 3. run it again: re-attaches to the same live job and fetches a complete table
    proc = subprocess.run(argv, capture_output=True, text=True, env=run_env, cwd=str(ROOT), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "re-attached to running job" in proc.stderr
    assert _keys(out) == _keys(tiny_table)
    assert len((job / "runs.log").read_text().splitlines()) == 1, "a second remote job was started"


def test_dead_remote_job_restarts_and_resumes_from_its_checkpoint(env, tmp_path, tiny_bundle, tiny_table):
    from edgenas.board.api import remote_profile

    bundle, _ = tiny_bundle
    target = fast_target(tmp_path, rounds=5, min_round_ms=40.0)  # ~3.5 s
    argv = ["board", "profile", "loop", "--bundle", bundle, "--target", target, "--out", tmp_path / "T.json", "--quiet"]
    host = subprocess.Popen([sys.executable, "-m", "edgenas"] + [str(a) for a in argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, **env), cwd=str(ROOT))
    job = _job_dir(tmp_path / "board work", host)
    os.killpg(int((job / "job.pid").read_text()), signal.SIGKILL)  # the board reboots, say
    _, err = host.communicate(timeout=60)
    assert host.returncode == 1 and "died" in err and "run the same command again" in err, err
    tables = remote_profile("loop", bundle, tmp_path / "T.json", target=str(target), show_progress=False)
    assert _keys(tables[0]) == _keys(tiny_table)
    assert len((job / "runs.log").read_text().splitlines()) == 2
    assert "resuming" in (job / "job.log").read_text()


def test_dead_shared_connection_is_replaced_not_leaked(env):
    """A master connection killed hard leaves its socket behind; the next command must start one new
    master (not a plain background connection per command, which ssh does when the socket is in the way)."""
    from edgenas.board.api import remote_for

    sock = remote_for("loop").conn.control
    check = subprocess.run(["ssh", "-S", sock, "-O", "check", "x"], capture_output=True, text=True)
    os.kill(int(check.stderr.split("pid=")[1].split(")")[0]), signal.SIGKILL)
    for _ in range(3):
        cli(env, "board", "jobs", "loop", check=0)
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    masters = [ln for ln in ps if ln.startswith("ssh ") and "ControlPath=" + sock in ln and " -N" in ln]
    assert len(masters) == 1, "\n".join(ln for ln in ps if "ssh" in ln)


def test_file_names_with_spaces_and_metacharacters_upload_once_and_verified(env, tmp_path):
    from edgenas.board.api import remote_for
    from edgenas.board.sync import push
    from edgenas.errors import EdgenasError

    name = "my model; v2 $(touch pwned) 'q'.onnx"
    src = tmp_path / name
    src.write_bytes(os.urandom(50000))
    logs = []
    remote = remote_for("loop")
    remote.log = logs.append
    push(remote, "jobs/t", {"in/" + name: src, "note.txt": b"hello"})
    placed = tmp_path / "board work" / "jobs" / "t" / "in" / name
    assert placed.read_bytes() == src.read_bytes()
    assert (tmp_path / "board work" / "jobs" / "t" / "note.txt").read_bytes() == b"hello"
    assert not list(tmp_path.rglob("pwned")) and not (Path.home() / "pwned").exists()
    push(remote, "jobs/t2", {name: src})
    assert sum("uploading" in m for m in logs) == 1  # the second push found the content on the board
    with pytest.raises(EdgenasError, match="over the .* cap"):
        push(remote, "jobs/t3", {"big": os.urandom(5000)}, max_upload_bytes=1000)
    with pytest.raises(EdgenasError, match="plain relative path"):
        push(remote, "jobs/t4", {"../escape": b"x"})


# ---- bad inputs --------------------------------------------------------------------------------------------------

def _bad_board(sshd, tmp_path, config=None, **kw) -> dict:
    boards = write_boards(tmp_path / "boards.yaml", bad=board(sshd, kw.pop("workdir", tmp_path / "w"), **kw))
    return sshd.env(boards, config)


def test_unreachable_host_closed_port(sshd, tmp_path):
    e = _bad_board(sshd, tmp_path, url="ssh://root@127.0.0.1:{}".format(_free_port()))
    assert "connection refused" in one_line_error(cli(e, "board", "setup", "bad"))


def test_unreachable_host_times_out(sshd, tmp_path):
    with socket.socket() as silent:  # accepts TCP but never speaks ssh
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        e = _bad_board(sshd, tmp_path, url="ssh://root@127.0.0.1:{}".format(silent.getsockname()[1]), connect_timeout=1)
        t0 = time.time()
        line = one_line_error(cli(e, "board", "setup", "bad"))
    assert "no answer within 1 s" in line and time.time() - t0 < 15, line


def test_wrong_key_is_refused(sshd, tmp_path):
    config = _client_config(tmp_path / "cfg", sshd.root / "wrong_key", sshd.root / "known_hosts")
    line = one_line_error(cli(_bad_board(sshd, tmp_path, config), "board", "setup", "bad"))
    assert "login refused" in line and "IdentityFile" in line, line


def test_first_contact_needs_accept_new_host_key(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    e = _bad_board(sshd, tmp_path, _client_config(tmp_path / "cfg", sshd.root / "user_key", known))
    assert "--accept-new-host-key" in one_line_error(cli(e, "board", "jobs", "bad"))
    cli(e, "board", "jobs", "bad", "--accept-new-host-key", check=0)
    assert "127.0.0.1" in known.read_text()
    cli(e, "board", "jobs", "bad", check=0)  # now known: no option needed


def _real_python(version: str):
    """A real interpreter of ``version`` (pyenv's, or one on PATH that is not a pyenv shim), or None."""
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/{}*/bin/python{}".format(version, version))))
    exe = found[-1] if found else shutil.which("python" + version)
    if exe and subprocess.run([exe, "-c", "pass"], capture_output=True).returncode == 0:
        return exe
    return None


@pytest.mark.parametrize("kind", ["fake", "real"])
def test_remote_python_too_old(sshd, tmp_path, kind):
    python = _real_python("3.6") if kind == "real" else str(tmp_path / "python3.6")
    if kind == "fake":  # prints what the version probe prints on an old board
        Path(python).write_text("#!/bin/sh\necho 'python 3.6.15'\n")
        Path(python).chmod(0o755)
    elif python is None:
        pytest.skip("no real Python 3.6 interpreter here")
    line = one_line_error(cli(_bad_board(sshd, tmp_path, python=python), "board", "setup", "bad"))
    assert "Python 3.6." in line and ">= 3.8" in line and "--python" in line, line


def test_python38_board_without_numpy(sshd, tmp_path, monkeypatch):
    """A real Python 3.8 board (JetPack 5's) that lacks numpy and onnxruntime: the board side installs and
    runs there; setup names what is missing with the line that installs it; a failing job is one line."""
    py38 = _real_python("3.8")
    if py38 is None:
        pytest.skip("no real Python 3.8 interpreter here")
    e = _bad_board(sshd, tmp_path, python=py38, target="cpu-x86-ort-fp32")
    line = one_line_error(cli(e, "board", "setup", "bad"))
    assert "numpy is missing: {} -m pip install --user numpy".format(py38) in line, line
    assert "onnxruntime is missing" in line, line
    for k, v in e.items():
        monkeypatch.setenv(k, v)
    from edgenas.board.api import remote_for
    from edgenas.board.job import JobSpec, run_job
    from edgenas.errors import EdgenasError

    remote = remote_for("bad")
    assert remote.info["python"].startswith("3.8.")
    spec = JobSpec("bad: profile", {"t": 1}, inputs={"a b.json": b"not json"}, outputs={"t.json": tmp_path / "t.json"},
                   argv=["profile", "missing", "--target-json", "a b.json", "--out", "t.json"])
    with pytest.raises(EdgenasError, match="the remote job failed: ModuleNotFoundError: No module named 'numpy'"):
        run_job(remote, spec, show_progress=False)
    assert not (tmp_path / "t.json").exists()


def test_remote_python_missing(sshd, tmp_path):
    line = one_line_error(cli(_bad_board(sshd, tmp_path, python="/nonexistent/python3"), "board", "setup", "bad"))
    assert "did not run as Python" in line and "--python" in line, line


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "tiny disk"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + res.stderr.strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_remote_disk_full(sshd, tmp_path, tiny_disk, tiny_bundle):
    bundle, _ = tiny_bundle  # ~7 MB: the 3 MB disk holds the package but not the bundle
    e = _bad_board(sshd, tmp_path, workdir=str(tiny_disk / "edgenas"))
    line = one_line_error(cli(e, "board", "profile", "bad", "--bundle", bundle, "--target", fast_target(tmp_path),
                              "--out", tmp_path / "T.json", "--quiet"))
    assert "disk is full" in line and "MB free" in line and "--workdir" in line, line
    assert not (tmp_path / "T.json").exists()
