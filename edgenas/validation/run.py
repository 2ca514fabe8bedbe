"""Validate an artifact on the target's runtime against the FP32 reference (board-side safe)."""

import os
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..errors import EdgenasError
from ..backends import make_runner, reference_target
from ..runtime.timing import measure_interleaved, stats
from ..util.io import atomic_write_bytes, sha256_bytes
from .compare import compare_outputs, run_batched
from .report import Thresholds, write_report


def _io(runner):
    ins = [(n, tuple(s[1:])) for n, s, _ in runner.input_specs()]
    outs = [(o.name, tuple(d if isinstance(d, int) else -1 for d in o.shape[1:])) for o in runner.session.get_outputs()] \
        if hasattr(runner, "session") else None
    return ins, outs


def check_compatible(art, ref) -> None:
    ai, ao = _io(art)
    ri, ro = _io(ref)
    if [s for _, s in ai] != [s for _, s in ri]:
        raise EdgenasError("artifact inputs {} do not match the reference inputs {}".format(ai, ri))
    if ao is not None and ro is not None and [s for _, s in ao] != [s for _, s in ro]:
        raise EdgenasError("artifact outputs {} do not match the reference outputs {}".format(ao, ro))


def save_outputs(path, outputs: np.ndarray, inputs: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, outputs=outputs, inputs_sha256=np.array(sha256_bytes(np.ascontiguousarray(inputs).tobytes())))
    atomic_write_bytes(path, buf.getvalue())


def load_outputs(path, inputs: np.ndarray) -> np.ndarray:
    try:
        with np.load(str(path), allow_pickle=False) as z:
            out, digest = z["outputs"], str(z["inputs_sha256"])
    except (OSError, KeyError, ValueError):
        raise EdgenasError("{} is not a saved-outputs file from 'edgenas validate --save-outputs'".format(path))
    if digest != sha256_bytes(np.ascontiguousarray(inputs).tobytes()):
        raise EdgenasError("outputs in {} were computed on other inputs; use the same --data/--inputs and --limit".format(path))
    return out


def validate(artifact, ref, target, inputs: np.ndarray, labels: Optional[np.ndarray], out_dir,
             predicted: Optional[Dict[str, float]] = None, thresholds: Thresholds = Thresholds(),
             save_path=None, load_path=None, measure: bool = True, context: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    runners = []
    try:
        ref_runner = make_runner(ref, reference_target(target))  # FP32 on the same backend, never at the artifact's precision
        runners.append(ref_runner)
        ref_runner.activate()
        batch = ref_runner.input_specs()[0][1][0]
        art_runner = None
        if load_path is None:
            art_runner = make_runner(artifact, target)
            runners.append(art_runner)
            art_runner.activate()
            check_compatible(art_runner, ref_runner)
            art_out = run_batched(art_runner, inputs, art_runner.input_specs()[0][1][0])
            if save_path:
                save_outputs(save_path, art_out, inputs)
        else:
            art_out = load_outputs(load_path, inputs)
        ref_out = run_batched(ref_runner, inputs, batch)
        if art_out.shape != ref_out.shape:
            raise EdgenasError("artifact outputs have shape {} but the reference gives {}".format(art_out.shape, ref_out.shape))
        lat, timers = {}, {}
        if measure and art_runner is not None:
            named = {"reference": ref_runner, "artifact": art_runner}
            calls = {k: r.timed_call(r.random_feed(i)) for i, (k, r) in enumerate(named.items())}
            samples = measure_interleaved(calls, target.protocol)
            lat = {k: stats(v) for k, v in samples.items()}
            timers = {k: dict(getattr(r, "timing", {}) or {}) for k, r in named.items()}
    finally:
        for r in runners:
            r.deactivate()
    rows = []
    for stage, path, res in (("reference fp32", ref, compare_outputs(ref_out, ref_out, labels)),
                             ("artifact", artifact, compare_outputs(art_out, ref_out, labels))):
        key = "reference" if stage.startswith("reference") else "artifact"
        row = dict(res, stage=stage, path=str(path), size_kb=os.path.getsize(path) / 1024 if Path(path).is_file() else None,
                   latency_p50_ms=lat.get(key, {}).get("median_ms"), latency_p90_ms=lat.get(key, {}).get("p90_ms"),
                   predicted_ms=(predicted or {}).get(key))
        if timers.get(key, {}).get("method"):
            row.update(timer=timers[key]["method"], enqueue_ms=timers[key].get("enqueue_ms"))
        rows.append(row)
    ctx = dict(context or {}, target=target.name, n=int(len(inputs)))
    return write_report(out_dir, rows, thresholds, ctx)


def validate_against_saved(artifact, target, inputs: np.ndarray, labels: Optional[np.ndarray], ref_outputs_path, out_dir,
                           thresholds: Thresholds = Thresholds(), predicted_ms: Optional[float] = None) -> Dict[str, Any]:
    """Board side: run ``artifact`` (engine or ONNX) and compare with reference outputs saved on the host."""
    ref_out = load_outputs(ref_outputs_path, inputs)
    runner = make_runner(artifact, target)
    try:
        runner.activate()
        out = run_batched(runner, inputs, runner.input_specs()[0][1][0])
        if out.shape != ref_out.shape:
            raise EdgenasError("artifact outputs have shape {} but the saved reference has {}".format(out.shape, ref_out.shape))
        samples = measure_interleaved({"artifact": runner.timed_call(runner.random_feed())}, target.protocol)
        lat = stats(samples["artifact"])
        timer = dict(getattr(runner, "timing", {}) or {})
    finally:
        runner.deactivate()
    row = dict(compare_outputs(out, ref_out, labels), stage="artifact on {}".format(target.name), path=str(artifact),
               size_kb=os.path.getsize(artifact) / 1024, latency_p50_ms=lat["median_ms"], latency_p90_ms=lat["p90_ms"],
               predicted_ms=predicted_ms, timer=timer.get("method", "host wall clock"), enqueue_ms=timer.get("enqueue_ms"))
    return write_report(out_dir, [row], thresholds, {"target": target.name, "n": int(len(inputs)), "data": "saved inputs",
                                                     "reference": str(ref_outputs_path)})
