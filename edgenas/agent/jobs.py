"""Board side: detached, resumable jobs that outlive the ssh connection that started them.

A job directory ``P/jobs/<id>/`` holds:
  job.json        what to run: {"argv": [agent sub-command...], "outputs": [relative paths]}
  job.pid         the runner's pid; alive only if /proc/<pid>/cmdline still names this job
  runs.log        one line per start (so a second, duplicate run would show)
  job.log         the runner's stdout and stderr, appended across restarts
  progress.jsonl  progress events the host streams into its progress bar
  result.json     {"rc", "error", "outputs": {path: sha256}}, written last

The runner is started in its own session (setsid) with SIGHUP ignored (nohup), stdin from /dev/null
and output to job.log, so a dropped link does not stop it. Stdlib only, Python 3.8.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional

from ..errors import EdgenasError
from ..util.io import atomic_write_json
from .store import sha256_path

HEARTBEAT_S = 5.0
START_MARK = "edgenas-agent: start "
POLL_S = 0.25


def _read_json(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def live_pid(job_dir: str) -> Optional[int]:
    """The runner's pid if it is alive and still this job's runner (not a recycled pid, not a zombie)."""
    try:
        with open(os.path.join(job_dir, "job.pid")) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    proc = "/proc/{}".format(pid)
    if os.path.isdir("/proc"):
        try:
            with open(proc + "/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(proc + "/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None
        if state == b"Z" or b"job-run" not in argv or os.path.abspath(job_dir).encode() not in argv:
            return None
    return pid


def job_state(job_dir: str) -> str:
    result = _read_json(os.path.join(job_dir, "result.json"))
    if result is not None:
        return "done" if result.get("rc") == 0 else "failed"
    if live_pid(job_dir):
        return "running"
    return "interrupted" if os.path.exists(os.path.join(job_dir, "job.pid")) else "new"


def list_jobs(workdir: str) -> List[Dict[str, Any]]:
    root = os.path.join(workdir, "jobs")
    out = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        d = os.path.join(root, name)
        spec = _read_json(os.path.join(d, "job.json")) or {}
        out.append({"id": name, "state": job_state(d), "pid": live_pid(d), "title": spec.get("title", "")})
    return out


def start(workdir: str, job_dir: str, spec: Dict[str, Any], fresh: bool = False) -> Dict[str, Any]:
    """Re-attach to the job if it runs or has finished; otherwise (re)start it. A lock makes two hosts
    starting the same job at once end up with one runner."""
    os.makedirs(job_dir, exist_ok=True)
    with open(os.path.join(job_dir, "lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        others = [j["id"] for j in list_jobs(workdir) if j["state"] == "running"
                  and j["id"] != os.path.basename(job_dir)]
        state = job_state(job_dir)
        if fresh and state == "running":
            raise EdgenasError("job {} is still running; wait for it or stop it with: edgenas board clean --kill".format(
                os.path.basename(job_dir)))
        if state == "done" and not fresh:
            return {"state": "done", "result": _read_json(os.path.join(job_dir, "result.json")), "others": others}
        if state == "running":
            return {"state": "running", "pid": live_pid(job_dir), "others": others}
        for name in ("result.json",) + (("progress.jsonl",) if fresh else ()):
            if os.path.exists(os.path.join(job_dir, name)):
                os.unlink(os.path.join(job_dir, name))
        atomic_write_json(os.path.join(job_dir, "job.json"), spec)
        with open(os.path.join(job_dir, "job.log"), "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "edgenas.agent", "--workdir", workdir, "job-run",
                                     os.path.abspath(job_dir)], cwd=job_dir, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        with open(os.path.join(job_dir, "job.pid"), "w") as f:
            f.write("{}\n".format(proc.pid))
        with open(os.path.join(job_dir, "runs.log"), "a") as f:
            f.write("{} pid {} ({})\n".format(datetime.now(timezone.utc).isoformat(timespec="seconds"), proc.pid, state))
        return {"state": "started", "pid": proc.pid, "previous": state, "others": others}


def run(job_dir: str, dispatch: Callable[[List[str]], int]) -> int:
    """The detached runner: run the job's agent command in-process and record its result."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    spec = _read_json(os.path.join(job_dir, "job.json")) or {}
    os.chdir(job_dir)
    sys.stderr.write("{}{} job {} (pid {})\n".format(
        START_MARK, datetime.now(timezone.utc).isoformat(timespec="seconds"), os.path.basename(job_dir), os.getpid()))
    sys.stderr.flush()
    rc, error = 1, ""
    try:
        rc = int(dispatch(list(spec["argv"])) or 0)
    except EdgenasError as e:
        error = str(e)
        sys.stderr.write("edgenas-agent: error: {}\n".format(error))
    except BaseException as e:  # a bug, or a kill: keep the traceback in job.log, one line in the result
        traceback.print_exc()
        error = "{}: {}".format(type(e).__name__, e)
    outputs = {}
    if rc == 0:
        for rel in spec.get("outputs", []):
            if os.path.isfile(rel):
                outputs[rel] = sha256_path(rel)
            else:
                rc, error = 1, "the job finished but did not write {}".format(rel)
    atomic_write_json(os.path.join(job_dir, "result.json"), {"rc": rc, "error": error, "outputs": outputs})
    return rc


def _emit(obj: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _log_tail(job_dir: str, n: int = 3) -> str:
    try:
        with open(os.path.join(job_dir, "job.log"), "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4000))
            text = f.read().decode("utf-8", "replace").split(START_MARK)[-1]  # this run's output only
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines()[1:] if ln.strip()]
    return " | ".join(lines[-n:]) or "no message: it was killed (out of memory, a reboot, kill -9?)"


def wait(job_dir: str) -> int:
    """Stream the job's progress events to stdout until it ends; a heartbeat shows the link is alive."""
    path = os.path.join(job_dir, "progress.jsonl")
    pos, last_line, last_out = 0, None, time.monotonic()
    try:
        with open(path, "rb") as f:  # on re-attach, start from the latest event only
            for line in f:
                if line.endswith(b"\n"):
                    last_line, pos = line, pos + len(line)
    except OSError:
        pass
    try:
        if last_line:
            sys.stdout.write(last_line.decode("utf-8", "replace"))
            sys.stdout.flush()
        while True:
            try:
                with open(path, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
            except OSError:
                chunk = b""
            complete = chunk[:chunk.rfind(b"\n") + 1]
            if complete:
                pos += len(complete)
                sys.stdout.write(complete.decode("utf-8", "replace"))
                sys.stdout.flush()
                last_out = time.monotonic()
            result = _read_json(os.path.join(job_dir, "result.json"))
            if result is not None:
                _emit(dict(result, event="end"))
                return 0
            if not live_pid(job_dir):
                time.sleep(POLL_S)  # it may have written its result just now
                result = _read_json(os.path.join(job_dir, "result.json"))
                _emit(dict(result, event="end") if result is not None else {"event": "died", "log": _log_tail(job_dir)})
                return 0
            if time.monotonic() - last_out > HEARTBEAT_S:
                _emit({"event": "alive"})
                last_out = time.monotonic()
            time.sleep(POLL_S)
    except BrokenPipeError:  # the host went away; the job itself keeps running
        return 0


def kill(job_dir: str) -> bool:
    pid = live_pid(job_dir)
    if pid:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(40):
            if not live_pid(job_dir):
                break
            time.sleep(0.05)
    return bool(pid)
