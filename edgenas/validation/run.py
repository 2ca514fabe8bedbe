"""Validate an artifact on the target's runtime against the FP32 reference, every output by name
(board-side safe: numpy, onnx, the backend's runtime; Python 3.8)."""

import hashlib
import os
from io import BytesIO
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from ..errors import EdgenasError
from ..backends import make_runner, reference_target
from ..runtime.timing import measure_interleaved, stats
from ..util.io import atomic_write_bytes, sha256_bytes
from .inputs import ModelIO, batch_size, check_feeds, first_batch, load_npz_inputs, onnx_io, run_all, runner_io
from .outputs import class_outputs, compare_all, legacy_fields
from .report import Thresholds, write_report

Arrays = Union[np.ndarray, Dict[str, np.ndarray]]
Metric = Optional[Tuple[str, Callable[..., Any]]]  # (module:function, the loaded function)


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
    def same(a, b) -> bool:  # a dynamic dim (-1) matches any size
        return len(a) == len(b) and all(x == y or x == -1 or y == -1 for x, y in zip(a, b))

    if ao is not None and ro is not None and (len(ao) != len(ro) or not all(same(a, b) for (_, a), (_, b) in zip(ao, ro))):
        raise EdgenasError("artifact outputs {} do not match the reference outputs {}".format(ao, ro))


def inputs_digest(inputs: Arrays) -> str:
    """One array: the sha256 of its bytes (as files saved by earlier versions); several: of names and bytes."""
    if isinstance(inputs, np.ndarray):
        return sha256_bytes(np.ascontiguousarray(inputs).tobytes())
    if len(inputs) == 1:
        return inputs_digest(next(iter(inputs.values())))
    h = hashlib.sha256()
    for k in sorted(inputs):
        h.update(k.encode("utf-8") + b"\0" + np.ascontiguousarray(inputs[k]).tobytes())
    return h.hexdigest()


def save_outputs(path, outputs: Arrays, inputs: Arrays) -> None:
    """Outputs by name (one array: the older single-output form) with the hash of the inputs they came from."""
    buf = BytesIO()
    digest = np.array(inputs_digest(inputs))
    if isinstance(outputs, np.ndarray):
        np.savez(buf, outputs=outputs, inputs_sha256=digest)
    else:
        arrays: Dict[str, Any] = {"output_{}".format(i): v for i, v in enumerate(outputs.values())}
        arrays.update(output_names=np.array(list(outputs)), inputs_sha256=digest)
        np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_outputs(path, inputs: Arrays) -> Dict[str, np.ndarray]:
    """{output name: array}; a file from an earlier version holds one unnamed output, returned under ''."""
    try:
        with np.load(str(path), allow_pickle=False) as z:
            digest = str(z["inputs_sha256"])
            if "output_names" in z.files:
                out = {str(n): z["output_{}".format(i)] for i, n in enumerate(z["output_names"])}
            else:
                out = {"": z["outputs"]}
    except Exception:  # absent, not a zip, truncated, other keys
        raise EdgenasError("{} is not a saved-outputs file from 'edgenas validate --save-outputs'".format(path))
    if digest != inputs_digest(inputs):
        raise EdgenasError("outputs in {} were computed on other inputs; use the same --data/--inputs and --limit".format(path))
    return out


def _named(out: Dict[str, np.ndarray], names: List[str], where) -> Dict[str, np.ndarray]:
    if list(out) == [""]:
        if len(names) != 1:
            raise EdgenasError("{} holds one unnamed output but the model has outputs {}; save them again with this "
                               "edgenas version".format(where, ", ".join(names)))
        return {names[0]: out[""]}
    return out


def as_feeds(inputs: Arrays, io: ModelIO) -> Dict[str, np.ndarray]:
    if isinstance(inputs, np.ndarray):
        if len(io.inputs) != 1:
            raise EdgenasError("the model has inputs {}; give one array per input name".format(", ".join(io.input_names)))
        return {io.inputs[0].name: inputs}
    return dict(inputs)


def _row(stage: str, path, per: Dict[str, Any], n: int, lat: Dict[str, float], protocol, predicted: Optional[float],
         timer: Dict[str, Any]) -> Dict[str, Any]:
    row = dict(legacy_fields(per, n), stage=stage, path=str(path), outputs=per,
               size_kb=os.path.getsize(path) / 1024 if Path(path).is_file() else None,
               latency_p50_ms=lat.get("median_ms"), latency_p90_ms=lat.get("p90_ms"), predicted_ms=predicted)
    if lat:
        row.update(latency_noise_pct=lat.get("noise_pct"), latency_spread_pct=lat.get("spread_pct"),
                   latency_max_spread_pct=protocol.max_spread_pct)
    if timer.get("method"):
        row.update(timer=timer["method"], enqueue_ms=timer.get("enqueue_ms"))
    return row


def validate(artifact, ref, target, inputs: Arrays, labels: Optional[np.ndarray], out_dir,
             predicted: Optional[Dict[str, float]] = None, thresholds: Thresholds = Thresholds(),
             save_path=None, load_path=None, measure: bool = True, context: Optional[Dict[str, Any]] = None,
             shapes: Optional[Dict[str, List[int]]] = None, classes: Optional[List[str]] = None,
             metric: Metric = None) -> Dict[str, Any]:
    """Run ``artifact`` and its FP32 reference ``ref`` (an ONNX file) over ``inputs`` (one array for a one-input
    model, or {input name: array}), compare every output, time both interleaved on real inputs, judge the
    metric hook, and write report.json / report.md. Nothing is written when anything fails first."""
    shapes = shapes or {}
    io = onnx_io(ref)
    feeds = as_feeds(inputs, io)
    n = check_feeds(feeds, io, shapes, "inputs", labels)
    runners = []
    try:
        ref_runner = make_runner(ref, reference_target(target))  # FP32 on the same backend, never at the artifact's precision
        runners.append(ref_runner)
        ref_runner.activate()
        batch = batch_size(io, shapes)
        art_runner = None
        if load_path is None:
            art_runner = make_runner(artifact, target)
            runners.append(art_runner)
            art_runner.activate()
            check_compatible(art_runner, ref_runner)
            art_batch = batch_size(runner_io(art_runner), shapes)
            art_out = run_all(art_runner, feeds, art_batch)
            if save_path:
                save_outputs(save_path, art_out, feeds)
        else:
            art_out = _named(load_outputs(load_path, feeds), io.output_names, load_path)
        ref_out = run_all(ref_runner, feeds, batch)
        lat: Dict[str, Dict[str, float]] = {}
        timers: Dict[str, Dict[str, Any]] = {}
        if measure and art_runner is not None:
            named = {"reference": (ref_runner, batch), "artifact": (art_runner, art_batch)}
            calls = {k: r.timed_call(first_batch(feeds, b)) for k, (r, b) in named.items()}
            samples = measure_interleaved(calls, target.protocol)
            lat = {k: stats(v) for k, v in samples.items()}
            timers = {k: dict(getattr(r, "timing", {}) or {}) for k, (r, _) in named.items()}
    finally:
        for r in runners:
            r.deactivate()
    th = thresholds
    classes = class_outputs(classes, ref_out)
    ref_per = compare_all(ref_out, ref_out, labels, classes, {}, {}, {}, th.error_quantile)
    art_per = compare_all(art_out, ref_out, labels, classes, th.atol, th.rtol, th.error_stat, th.error_quantile)
    rows = [_row("reference fp32", ref, ref_per, n, lat.get("reference", {}), target.protocol, (predicted or {}).get("reference"),
                 timers.get("reference", {})),
            _row("artifact", artifact, art_per, n, lat.get("artifact", {}), target.protocol, (predicted or {}).get("artifact"),
                 timers.get("artifact", {}))]
    if metric is not None:
        from .metric import metric_row

        rows[1]["metric"] = metric_row(metric[0], metric[1], ref_out, art_out, labels)
    ctx = dict(context or {}, target=target.name, n=int(n), outputs=list(ref_out), class_outputs=classes)
    return write_report(out_dir, rows, th, ctx)


def validate_against_saved(artifact, target, inputs: Any, labels: Optional[np.ndarray], ref_outputs_path, out_dir,
                           thresholds: Thresholds = Thresholds(), predicted_ms: Optional[float] = None,
                           classes: Optional[List[str]] = None, save_path=None) -> Dict[str, Any]:
    """Board side: run ``artifact`` (engine or ONNX) and compare every output with reference outputs saved on
    the host. ``inputs``: arrays, or the path of an inputs .npz (read against the artifact's own inputs, with
    its labels). ``save_path``: also save the artifact's outputs (the host runs a metric hook on them)."""
    runner = make_runner(artifact, target)
    try:
        runner.activate()
        io = runner_io(runner)
        if isinstance(inputs, (np.ndarray, dict)):
            feeds = as_feeds(inputs, io)
        else:
            feeds, labels = load_npz_inputs(inputs, io, {})
        n = check_feeds(feeds, io, {}, "inputs", labels)
        ref_out = load_outputs(ref_outputs_path, feeds)
        batch = batch_size(io, {})
        out = run_all(runner, feeds, batch)
        ref_out = _named(ref_out, list(out), ref_outputs_path)
        if save_path:
            save_outputs(save_path, out, feeds)
        samples = measure_interleaved({"artifact": runner.timed_call(first_batch(feeds, batch))}, target.protocol)
        lat = stats(samples["artifact"])
        timer = dict(getattr(runner, "timing", {}) or {})
    finally:
        runner.deactivate()
    th = thresholds
    classes = class_outputs(classes, ref_out)
    per = compare_all(out, ref_out, labels, classes, th.atol, th.rtol, th.error_stat, th.error_quantile)
    row = _row("artifact on {}".format(target.name), artifact, per, n, lat, target.protocol, predicted_ms,
               dict(timer, method=timer.get("method", "host wall clock")))
    return write_report(out_dir, [row], th, {"target": target.name, "n": int(n), "data": "saved inputs",
                                             "reference": str(ref_outputs_path), "outputs": list(ref_out),
                                             "class_outputs": classes})
