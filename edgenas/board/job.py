"""Host side: the generic remote-job primitive - upload these files, run this board-side agent command
in the job's directory as a detached resumable job, stream its progress, fetch these outputs.

Profiling uses it today; building an engine or validating on the board (phase 2) is another
``JobSpec`` with another agent command. Running the same spec again re-attaches to the live job,
restarts a dead one (which resumes from its own checkpoint), or fetches a finished one's outputs.
"""

import json
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..errors import EdgenasError
from ..util.io import sha256_file, sha256_json
from ..util.progress import progress
from .remote import Remote
from .sync import DEFAULT_MAX_UPLOAD, Source, push


@dataclass
class JobSpec:
    title: str                           # progress bar label, e.g. "orin: profile jetson-orin-nano-trt-fp16"
    key: Dict[str, Any]                  # what makes two runs the same job (hashed into the job id)
    inputs: Dict[str, Source]            # name in the job dir -> local file or bytes
    argv: List[str]                      # agent sub-command, run with the job dir as cwd
    outputs: Dict[str, Path]             # name in the job dir -> local destination
    verify: Optional[Callable[[Path], Any]] = None  # checks a downloaded output before it is moved in place
    unit: str = "items"

    @property
    def job_id(self) -> str:
        return sha256_json(self.key)[:16]

    @property
    def remote_dir(self) -> str:
        return "jobs/" + self.job_id


@dataclass
class JobResult:
    outputs: Dict[str, Path]
    state: str                           # how it was found: started / running (re-attached) / done
    job_dir: str
    others: List[str] = field(default_factory=list)


def run_job(remote: Remote, spec: JobSpec, fresh: bool = False, show_progress: bool = True,
            max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> JobResult:
    job_dir = remote.workdir + "/" + spec.remote_dir
    push(remote, spec.remote_dir, spec.inputs, max_upload_bytes)
    started = remote.call(["job-start", spec.remote_dir] + (["--fresh"] if fresh else []),
                          payload={"argv": spec.argv, "outputs": sorted(spec.outputs), "title": spec.title})
    state = started["state"]
    if started.get("others"):
        remote.log("warning: other jobs are running on this board ({}); their timings interfere".format(
            ", ".join(started["others"])))
    if state == "done":
        remote.log("job {} finished earlier; fetching its outputs (--fresh runs it again)".format(spec.job_id))
        result = started["result"]
    else:
        remote.log("{} job {} (pid {}) in {}".format("re-attached to running" if state == "running" else
                                                     "restarted" if started.get("previous") == "interrupted" else "started",
                                                     spec.job_id, started.get("pid"), job_dir))
        result = _stream(remote, spec, job_dir, show_progress)
    fetched = {name: _fetch(remote, job_dir, name, dest, result["outputs"].get(name), spec.verify)
               for name, dest in spec.outputs.items()}
    return JobResult(fetched, state, job_dir, list(started.get("others") or []))


def rerun_hint() -> str:
    """'run the same command again', with that command when it is the edgenas CLI."""
    if os.path.basename(sys.argv[0]) in ("edgenas", "__main__.py") and len(sys.argv) > 1:
        return "run the same command again: " + " ".join(shlex.quote(a) for a in ["edgenas"] + sys.argv[1:])
    return "run the same command again"


def _stopped(remote: Remote, reason: str) -> EdgenasError:
    b = remote.board
    return EdgenasError("board '{}' ({}) stopped answering: {}; the remote job keeps running; to re-attach, {}".format(
        b.name, b.url, reason, rerun_hint()))


def _stream(remote: Remote, spec: JobSpec, job_dir: str, show_progress: bool) -> Dict[str, Any]:
    """Follow the job's progress events into a progress bar until it ends; its result."""
    bar, shown, end = None, 0, None
    with tempfile.TemporaryFile() as err:
        proc = remote.conn.popen(remote.agent_command(["job-wait", spec.remote_dir]), stderr=err)
        try:
            for raw in proc.stdout:
                try:
                    ev = json.loads(raw.decode("utf-8", "replace"))
                except ValueError:
                    continue
                if "done" in ev:
                    if bar is None:
                        bar = progress(ev["total"], spec.title, spec.unit, disable=not show_progress)
                    if ev["total"] != bar.total:
                        bar.total = ev["total"]
                    bar.update(ev["done"] - shown)
                    shown = ev["done"]
                elif ev.get("event") in ("end", "died"):
                    end = ev
        finally:
            rc = proc.wait()
            if bar is not None:
                bar.close()
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if end is None:
        raise _stopped(remote, remote.conn.reason(rc, text) if rc else "the progress stream ended early")
    if end["event"] == "died":
        raise EdgenasError("board '{}': the remote job {} died ({}; log: {}/job.log); it resumes from its checkpoint: "
                           "{}".format(remote.board.name, spec.job_id, end.get("log") or "no log", job_dir, rerun_hint()))
    if end.get("rc") != 0:
        raise EdgenasError("board '{}': the remote job failed: {} (log: {}/job.log)".format(
            remote.board.name, end.get("error") or "exit {}".format(end.get("rc")), job_dir))
    return end


def _fetch(remote: Remote, job_dir: str, name: str, dest: Path, sha: Optional[str],
           verify: Optional[Callable[[Path], Any]]) -> Path:
    """Download ``name`` next to ``dest``, check its hash and content, then move it in place atomically."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + dest.name + ".", suffix=".download", dir=str(dest.parent))
    os.close(fd)
    try:
        remote.conn.download(job_dir + "/" + name, Path(tmp))
        if sha and sha256_file(tmp) != sha:
            raise EdgenasError("board '{}': {} arrived corrupt (sha256 mismatch); run the same command again".format(
                remote.board.name, name))
        if verify is not None:
            verify(Path(tmp))
        os.replace(tmp, str(dest))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest
