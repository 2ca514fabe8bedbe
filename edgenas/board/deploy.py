"""Host side: build a TensorRT engine and validate an artifact on a board over SSH, as remote jobs.

The caller (``edgenas.tasks``) has already done what belongs on the host: the static check of the ONNX,
the preprocessing of the inputs and the FP32 reference outputs (ONNX Runtime, on the host). Here the
files are uploaded by content hash, the board-side agent command (``build`` / ``validate``) runs as a
resumable job (running the same call again re-attaches or fetches), and what it wrote comes back
hash-verified and is moved in place only once complete.
"""

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from ..errors import EdgenasError
from ..util.io import sha256_file
from .api import BoardArg, resolve_boards
from .job import JobSpec, run_job
from .registry import BoardEntry
from .remote import Remote, connect, readiness
from .sync import DEFAULT_MAX_UPLOAD

REPORT_FORMAT = "edgenas.validation_report/1"
ENGINE_FORMAT = "edgenas.engine/1"


def one_board(board: BoardArg, what: str) -> BoardEntry:
    entries = resolve_boards(board)
    if len(entries) != 1:
        raise EdgenasError("{} runs on one board at a time; got {}".format(what, ", ".join(e.name for e in entries)))
    return entries[0]


def ready_remote(entry: BoardEntry, target, what: str, accept_new_host_key: bool = False) -> Remote:
    """Connect (installing this edgenas there when needed) and refuse, before any upload, a board that lacks
    the target's runtime; the error names the line that installs it."""
    remote = connect(entry, accept_new_host_key)
    problems = readiness(remote, remote.call(["doctor"])["env"], target.backend)
    if problems:
        raise EdgenasError("board '{}' cannot {} for {}: {}".format(entry.name, what, target.name, "; ".join(problems)))
    if entry.target and entry.target != target.name:
        remote.log("note: the board is registered as {}, running for target {}".format(entry.target, target.name))
    return remote


def _target_json(target) -> bytes:
    return json.dumps(target.to_dict(), indent=1, sort_keys=True).encode()


def _array_sha(a: Optional[np.ndarray]) -> Optional[str]:
    if a is None:
        return None
    a = np.ascontiguousarray(a)
    return hashlib.sha256("{}{}".format(a.dtype.str, a.shape).encode() + a.tobytes()).hexdigest()


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """A private folder next to ``dest`` (same file system: the final moves are atomic renames)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix="." + dest.name + ".", suffix=".fetch", dir=str(dest.parent)))
    try:
        yield stage
    finally:
        shutil.rmtree(str(stage), ignore_errors=True)


def _json_with_format(fmt: str):
    def verify(path: Path) -> Dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise EdgenasError("{} fetched from the board is not valid JSON; run the same command again".format(path.name))
        if not isinstance(data, dict) or data.get("format") != fmt:
            raise EdgenasError("{} fetched from the board is not an {} file".format(path.name, fmt))
        return data
    return verify


def _upload_name(path: Path) -> str:
    return "in/" + path.name  # never a leading '-', so the agent never reads it as an option


def remote_build(board: BoardArg, onnx, target, out, dynamic_batch=None, accept_new_host_key: bool = False,
                 fresh: bool = False, show_progress: bool = True,
                 max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> Dict[str, Any]:
    """Build ``onnx`` into a TensorRT engine on ``board`` and fetch it to ``out`` with its ``out.json``
    sidecar. Both are downloaded and hash-checked (transfer hash, and the sidecar's engine sha256) before
    either is moved in place. The board keeps a timing cache per target and TensorRT version under
    ``<workdir>/cache/``. The caller runs the static check first. Returns the sidecar."""
    entry = one_board(board, "an engine build")
    onnx, out = Path(onnx), Path(out)
    remote = ready_remote(entry, target, "build a TensorRT engine", accept_new_host_key)
    dyn = list(dynamic_batch) if dynamic_batch else None
    argv = ["build", _upload_name(onnx), "--target-json", "target.json", "--out", "model.engine", "--board-cache"]
    argv += ["--dynamic-batch", ",".join(str(v) for v in dyn)] if dyn else []
    with _staging(out) as stage:
        spec = JobSpec(title="{}: build {}".format(entry.name, target.name),
                       key={"kind": "build", "onnx": sha256_file(onnx), "target": target.sha256, "dynamic_batch": dyn},
                       inputs={_upload_name(onnx): onnx, "target.json": _target_json(target)}, argv=argv,
                       outputs={"model.engine": stage / "engine", "model.engine.json": stage / "engine.json"})
        run_job(remote, spec, fresh=fresh, show_progress=show_progress, max_upload_bytes=max_upload_bytes)
        meta = _json_with_format(ENGINE_FORMAT)(stage / "engine.json")
        if meta.get("engine_sha256") != sha256_file(stage / "engine"):
            raise EdgenasError("board '{}': the engine and its sidecar do not match (sha256); run the same command again "
                               "with --fresh".format(entry.name))
        os.replace(str(stage / "engine"), str(out))
        os.replace(str(stage / "engine.json"), str(out) + ".json")
    return meta


def _verify_report(path: Path):
    """The report is checked as a report; the artifact's outputs (a metric hook's) are hash-checked only."""
    return None if path.name.startswith(".outputs.npz.") else _json_with_format(REPORT_FORMAT)(path)


def _arrays_sha(a) -> Optional[str]:
    if isinstance(a, dict):
        return hashlib.sha256(json.dumps({k: _array_sha(v) for k, v in a.items()}, sort_keys=True).encode()).hexdigest()
    return _array_sha(a)


def reference_row(ref, ref_out, labels: Optional[np.ndarray], classes: Optional[List[str]] = None) -> Dict[str, Any]:
    """The FP32 reference's own row (computed on the host: accuracy, no board latency). ``ref_out``: its
    outputs by name (one array: a one-output model)."""
    from ..validation.outputs import class_outputs, compare_all, legacy_fields

    outs = ref_out if isinstance(ref_out, dict) else {"output": ref_out}
    per = compare_all(outs, outs, labels, class_outputs(classes, outs), {}, {}, {})
    return dict(legacy_fields(per, len(next(iter(outs.values())))), outputs=per, stage="reference fp32 (host ONNX Runtime)",
                path=str(ref), size_kb=os.path.getsize(str(ref)) / 1024, latency_p50_ms=None, latency_p90_ms=None,
                predicted_ms=None)


def remote_validate(board: BoardArg, artifact, target, inputs, labels: Optional[np.ndarray],
                    ref_outputs, out, thresholds, predicted_ms: Optional[float] = None,
                    extra_rows: Optional[List[Dict[str, Any]]] = None, context: Optional[Dict[str, Any]] = None,
                    accept_new_host_key: bool = False, fresh: bool = False, show_progress: bool = True,
                    max_upload_bytes: int = DEFAULT_MAX_UPLOAD, classes: Optional[List[str]] = None,
                    metric=None) -> Dict[str, Any]:
    """Run ``artifact`` (ONNX, or an engine with its ``.json`` sidecar) on ``board`` over ``inputs`` (an array,
    or {input name: array}) and compare every output there with ``ref_outputs`` (an array or {name: array})
    (``edgenas.tasks.validate.validate_saved``, as tools/validate_on_device.py does); fetch its report and
    write report.json / report.md into ``out`` with ``extra_rows`` (the host's reference row) first and
    ``context`` added. The board's rows are kept as they are. ``metric`` ((module:function, function)): the
    board also sends the artifact's outputs back and the hook runs here. Returns the report."""
    from ..backends.registry import get_backend
    from ..validation.report import write_report
    from ..validation.run import save_outputs

    entry = one_board(board, "a validation")
    artifact, out = Path(artifact), Path(out)
    files: Dict[str, Any] = {_upload_name(artifact): artifact, "target.json": _target_json(target)}
    sidecar = Path(str(artifact) + ".json")
    if get_backend(target.backend).builds_engine and artifact.suffix != ".onnx":  # an engine travels with its sidecar
        from ..backends.tensorrt.engine_meta import read_engine_meta

        read_engine_meta(artifact)  # an engine without its matching sidecar is refused here, before any upload
        files[_upload_name(artifact) + ".json"] = sidecar
    remote = ready_remote(entry, target, "validate", accept_new_host_key)
    th = asdict(thresholds)
    argv = ["validate", _upload_name(artifact), "--target-json", "target.json", "--inputs", "inputs.npz",
            "--ref-outputs", "ref_outputs.npz", "--out", "report",
            "--max-acc-drop", repr(th["max_acc_drop"]), "--min-agreement", repr(th["min_agreement"]),
            "--min-cosine", repr(th["min_cosine"]), "--max-latency-over-predicted", repr(th["max_latency_over_predicted"]),
            "--thresholds-json", json.dumps(th, sort_keys=True)]
    argv += ["--predicted-ms", repr(float(predicted_ms))] if predicted_ms is not None else []
    argv += ["--class-outputs", ",".join(classes)] if classes else []
    argv += ["--save-outputs", "report/outputs.npz"] if metric else []
    key = {"kind": "validate", "artifact": sha256_file(artifact), "sidecar": sha256_file(sidecar) if sidecar.is_file() else None,
           "inputs": _arrays_sha(inputs), "labels": _array_sha(labels), "ref": _arrays_sha(ref_outputs),
           "target": target.sha256, "thresholds": th, "predicted_ms": predicted_ms, "classes": classes,
           "outputs_back": bool(metric)}
    feeds = inputs if isinstance(inputs, dict) else {"inputs": inputs}
    if len(feeds) == 1:  # a one-input model: the 'inputs' key every version reads
        feeds = {"inputs": next(iter(feeds.values()))}
    with tempfile.TemporaryDirectory(prefix="edgenas-validate-") as tmp, _staging(out / "report.json") as stage:
        arrays = dict(feeds) if labels is None else dict(feeds, labels=labels)
        np.savez(os.path.join(tmp, "inputs.npz"), **arrays)
        save_outputs(os.path.join(tmp, "ref_outputs.npz"), ref_outputs, inputs)  # carries the inputs' hash
        files.update({"inputs.npz": Path(tmp) / "inputs.npz", "ref_outputs.npz": Path(tmp) / "ref_outputs.npz"})
        wanted = {"report/report.json": stage / "report.json"}
        if metric:
            wanted["report/outputs.npz"] = stage / "outputs.npz"
        spec = JobSpec(title="{}: validate on {}".format(entry.name, target.name), key=key, inputs=files, argv=argv,
                       outputs=wanted, verify=_verify_report)
        run_job(remote, spec, fresh=fresh, show_progress=show_progress, max_upload_bytes=max_upload_bytes)
        board_report = json.loads((stage / "report.json").read_text(encoding="utf-8"))
        if metric:
            from ..validation.metric import metric_row
            from ..validation.run import load_outputs

            art_out = load_outputs(stage / "outputs.npz", inputs)
            ref_named = ref_outputs if isinstance(ref_outputs, dict) else {"": ref_outputs}
            if list(art_out) == [""] or list(ref_named) == [""]:
                art_out, ref_named = {"output": next(iter(art_out.values()))}, {"output": next(iter(ref_named.values()))}
            board_report["rows"][-1]["metric"] = metric_row(metric[0], metric[1], ref_named, art_out, labels)
    rows = list(extra_rows or []) + board_report["rows"]
    for r in board_report["rows"]:
        r["path"] = str(artifact)  # the host's file, not its name in the job dir
    ctx = dict(board_report["context"], **(context or {}), board=entry.name, board_url=entry.url)
    return write_report(out, rows, thresholds, ctx)
