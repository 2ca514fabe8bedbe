"""Your own ONNX model on your board: a per-layer profile taken in context, and a measured per-group INT8
precision plan (``edgenas profile model.onnx``, ``edgenas quantize model.onnx --plan auto``)."""

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..errors import EdgenasError
from ..util.checks import output_path
from .common import PathLike, as_target


@dataclass
class ModelProfileResult:
    profile: Path
    markdown: Path
    plot: Optional[Path]
    e2e_ms: float
    kernel_sum_ms: float
    sum_over_e2e: float
    coverage: float
    module_coverage: Optional[float]
    rows: int
    seconds: float
    data: Dict[str, Any] = field(repr=False, default_factory=dict)

    def summary(self) -> List[str]:
        from ..latency.model_report import summary

        return summary(self.data)


@dataclass
class PlanResult:
    onnx: Path
    sidecar: Path
    shipped: str                  # fp32 / int8 / mixed
    fp32_ms: float
    int8_ms: float
    shipped_ms: float
    int8_groups: int
    groups: int
    errors: Dict[str, Dict[str, float]]
    reason: str
    seconds: float
    profile: Optional[Path] = None
    report: Dict[str, Any] = field(repr=False, default_factory=dict)


def _inputs(model: PathLike, target, input_shape, inputs, n: int, seed: int, calib: bool = False):
    """(model I/O, chosen shapes, batch, list of per-inference feeds): from an .npz or seeded random data."""
    from ..latency.model_profile import check_model_file
    from ..validation.inputs import check_opset, load_npz_inputs, onnx_io, parse_input_shapes, random_inputs

    check_model_file(model)
    io = onnx_io(model)
    check_opset(io)
    shapes = parse_input_shapes(input_shape, io)
    batch = next((t.dims[0] for t in io.inputs if t.dims and isinstance(t.dims[0], int) and t.dims[0] > 0), None)
    batch = batch or next((shapes[t.name][0] for t in io.inputs if t.name in shapes), None) or target.batch
    if inputs:
        feeds, _ = load_npz_inputs(inputs, io, shapes, limit=n * batch)
    else:
        feeds = random_inputs(io, shapes, n * batch, seed)
    total = len(next(iter(feeds.values())))
    if total < batch:
        raise EdgenasError("{} holds {} sample(s) but the model runs {} per inference; give at least {}".format(
            inputs, total, batch, batch))
    batches = [{k: np.ascontiguousarray(v[i:i + batch]) for k, v in feeds.items()} for i in range(0, total - batch + 1, batch)]
    return io, shapes, batch, batches


def _no_board(board, what: str) -> None:
    if board:
        raise EdgenasError("--board is not yet supported for {} of your own model; copy the model to the board and run the "
                           "same command there (it needs numpy, onnx and onnxruntime, no torch): pip install --no-deps "
                           "edgenas".format(what))


def profile_model(model: PathLike, target=None, out: Optional[PathLike] = None, input_shape=None,
                  inputs: Optional[PathLike] = None, seed: int = 0, budget_s: float = 90.0, progress: bool = True,
                  board: Optional[str] = None, accept_new_host_key: bool = False, fresh: bool = False,
                  max_upload_mb: float = 2048.0) -> ModelProfileResult:
    """Per-layer profile of an ONNX model on ``target``, in context: each row the ONNX nodes one kernel covers
    (after the runtime's fusions), op types, shapes, precision, median and spread, share of the total, plus the
    end-to-end time measured in the same interleaved run and the gap as overhead. Writes ``out`` (JSON; default
    ``<model>.profile.json``) with a Markdown table and a PNG plot beside it. ``input_shape``: sizes for
    dynamic dims (``"name:1x3x224x224"`` or {name: dims}); ``inputs``: an .npz to feed instead of random data.
    ``target``: default the board's target, else cpu-x86-ort-fp32. ``board``: measure on that board over SSH
    (the model, its external data and the feeds are uploaded; running the same call again re-attaches to the
    board's job, ``fresh`` measures again); the files are written here."""
    from ..latency.model_profile import profile_models
    from ..latency.model_report import write_profile
    from ..util.checks import check

    check("seed", seed)
    check("budget_s", budget_s)
    check("max_upload_mb", max_upload_mb)
    entry = None
    if board:
        from ..board.deploy import one_board

        entry = one_board(board, "a per-layer profile")
    t = as_target(target or (entry.target if entry is not None and entry.target else "cpu-x86-ort-fp32"))
    out = Path(out) if out else Path(str(Path(model).with_suffix("")) + ".profile.json")
    output_path(out, "profile")
    if t.backend == "tensorrt" and entry is None:  # IProfiler + engine inspector: MODEL.onnx or MODEL.engine
        from .own_model_trt import profile_trt

        prof = profile_trt(model, t, lambda onnx: _inputs(onnx, t, input_shape, inputs, 1, seed)[3][0],
                           bool(input_shape or inputs), seed, budget_s, progress)
        paths = write_profile(prof, out)
        return ModelProfileResult(Path(paths["json"]), Path(paths["markdown"]), Path(paths["plot"]) if paths["plot"]
                                  else None, prof["e2e"]["median_ms"], prof["kernel_sum_ms"], prof["sum_over_e2e"],
                                  prof["coverage"], prof["module_coverage"], len(prof["rows"]), prof["seconds"], prof)
    _, _, _, feeds = _inputs(model, t, input_shape, inputs, 1, seed)
    if entry is not None:
        from ..board.own_model import remote_profile_model

        prof = remote_profile_model(entry, model, t, feeds[0], seed, budget_s, accept_new_host_key, fresh, progress,
                                    int(check("max_upload_mb", max_upload_mb) * 2 ** 20))
        paths = write_profile(prof, out, "{} on board {}".format(Path(model).name, entry.name))
    else:
        prof = profile_models({"model": str(model)}, t, feeds[0], seed, budget_s, progress)["model"]
        paths = write_profile(prof, out)
    return ModelProfileResult(Path(paths["json"]), Path(paths["markdown"]), Path(paths["plot"]) if paths["plot"] else None,
                              prof["e2e"]["median_ms"], prof["kernel_sum_ms"], prof["sum_over_e2e"], prof["coverage"],
                              prof["module_coverage"], len(prof["rows"]), prof["seconds"], prof)


def _copy_model(src: PathLike, dst: Path) -> None:
    import onnx

    m = onnx.load(str(src), load_external_data=False)
    if any(i.data_location == onnx.TensorProto.EXTERNAL for i in m.graph.initializer):
        full = onnx.load(str(src))
        tmp = dst.with_name("." + dst.name + ".tmp")
        onnx.save_model(full, str(tmp), save_as_external_data=True, location=dst.name + ".data")
        os.replace(str(tmp), str(dst))
    else:
        from ..util.io import atomic_write_bytes

        atomic_write_bytes(dst, Path(src).read_bytes())


def _quantize(src, dst, batches, t, exclude: List[str], cache: Optional[str]) -> str:
    import onnxruntime as ort

    from ..compress.qdq import qdq_flavour, quantize_qdq

    ort.set_default_logger_severity(3)  # the calibrator's sessions warn about every unused Clip bound
    quantize_qdq(src, dst, batches, t.quantization, None, nodes_to_exclude=exclude, calibration_cache=cache,
                 flavour=qdq_flavour(t))
    return str(dst)


def _run_all(path, t, batches) -> Dict[str, np.ndarray]:
    from ..latency.model_profile import open_session

    s = open_session(path, t)
    names = [o.name for o in s.get_outputs()]
    outs = [s.run(names, b) for b in batches]
    return {n: np.concatenate([o[i] for o in outs]) for i, n in enumerate(names)}


def quantize_auto(model: PathLike, out: PathLike, target="cpu-x86-ort-int8", calib_inputs: Optional[PathLike] = None,
                  calib_size: int = 32, input_shape=None, max_rel_error=0.1, method: str = "minmax", seed: int = 0,
                  budget_s: float = 60.0, progress: bool = True, board: Optional[str] = None,
                  plan: Optional[Dict[str, Any]] = None) -> PlanResult:
    """Choose per fused group whether your own ONNX model runs INT8 or stays in float, from measurements of this
    model on ``target`` and each group's output error on the calibration data (see ``edgenas.latency.plan_auto``),
    write the chosen model to ``out`` and the plan to its sidecar ``out.json``. What ships is the fastest
    candidate measured in one interleaved run (all-FP32 and all-INT8 among them) whose outputs stay within
    ``max_rel_error`` (relative L2 error per output; a number or {output: number}) of FP32. ``plan``: apply a
    stored plan ({"fp32_nodes": [...]}) instead of searching. Without ``calib_inputs`` (an .npz, one array per
    input) the calibration data are random, which is said in the sidecar."""
    import dataclasses

    import onnx

    from ..latency import plan_auto as pa
    from ..latency.model_profile import interleave, profile_models
    from ..latency.model_report import write_profile
    from ..runtime.timing import stats
    from ..util.checks import check
    from ..util.io import atomic_write_json
    from ..validation.outputs import check_names, per_output

    _no_board(board, "the precision plan")
    check("seed", seed)
    check("budget_s", budget_s)
    if not isinstance(calib_size, int) or isinstance(calib_size, bool) or calib_size < 2:
        raise EdgenasError("calib_size must be an integer >= 2, not {!r}".format(calib_size))
    t = as_target(target)
    if t.precision != "int8" or t.backend != "onnxruntime":
        raise EdgenasError("target '{}' is {} on {}; the measured precision plan needs an ONNX Runtime int8 target (e.g. "
                           "cpu-x86-ort-int8)".format(t.name, t.precision, t.backend))
    if method not in ("minmax", "entropy", "percentile"):
        raise EdgenasError("method must be minmax, entropy or percentile, not '{}'".format(method))
    t = dataclasses.replace(t, quantization=dataclasses.replace(t.quantization, method=method))
    out = Path(out)
    output_path(out, "quantized ONNX")
    if Path(model).resolve() == out.resolve():
        raise EdgenasError("--out {} is the input model; write the quantized model elsewhere".format(out))
    t0 = time.time()
    io, _, batch, batches = _inputs(model, t, input_shape, calib_inputs, calib_size, seed)
    tol = per_output(max_rel_error, "--max-rel-error")
    check_names(tol, io.output_names, "--max-rel-error")
    fp32_model = onnx.load(str(model), load_external_data=False)
    pa.check_quantizable(fp32_model, model)
    fixed_nodes = pa.check_plan_nodes(plan, fp32_model, model) if plan is not None else None
    evalb = batches[:8]
    work = tempfile.mkdtemp(prefix="edgenas-plan-")
    try:
        import inspect

        from onnxruntime.quantization import quantize_static

        cache = os.path.join(work, "calib.json") if "calibration_cache_path" in inspect.signature(
            quantize_static).parameters else None
        ref = _run_all(model, t, evalb)
        if fixed_nodes is not None:
            _quantize(model, out, batches, t, fixed_nodes, cache)
            errs = pa.output_errors(ref, _run_all(out, t, evalb))
            side = {"precision": "mixed" if fixed_nodes else "int8", "precision_plan": dict(plan, format=pa.PLAN_FORMAT),
                    "output_errors": errs, "within_tolerance": pa.within(errs, tol), "source": str(model)}
            atomic_write_json(Path(str(out) + ".json"), side)
            return PlanResult(out, Path(str(out) + ".json"), side["precision"], float("nan"), float("nan"), float("nan"),
                              -1, -1, errs, "applied the given plan", round(time.time() - t0, 1), None, side)
        int8_path = _quantize(model, os.path.join(work, "int8.onnx"), batches, t, [], cache)
        profs = profile_models({"fp32": str(model), "int8": int8_path}, t, batches[0], seed, budget_s, progress)
        groups = pa.groups_from_profile(profs["fp32"])
        from ..compress.quantize import node_sqnr

        pa.group_errors(groups, fp32_model, node_sqnr(model, int8_path, batches[:2], None))
        sizes = pa.tensor_sizes(fp32_model, batches[0])
        cost = pa.CostModel(groups, fp32_model, profs["int8"], onnx.load(int8_path, load_external_data=False), sizes)
        plans = pa.candidates(cost, set())
        paths: Dict[str, str] = {"fp32": str(model), "int8": int8_path}
        errors: Dict[str, Any] = {"fp32": pa.output_errors(ref, ref)}

        def realise(name, p):
            if name not in paths:
                excl = [n for g, keep in zip(groups, p) if not keep for n in g["nodes"]]
                paths[name] = _quantize(model, os.path.join(work, name + ".onnx"), batches, t, excl, cache)
            errors[name] = pa.output_errors(ref, _run_all(paths[name], t, evalb))
            return pa.within(errors[name], tol)

        for name in list(plans):
            if name == "fp32" or realise(name, plans[name]) or name not in ("int8", "greedy-from-int8"):
                continue
            for frac in (0.1, 0.25, 0.5):  # keep the most damaging groups in float until the outputs are within tolerance
                fixed = pa.repaired(plans[name], groups, frac)
                rname = "{}-repaired{}".format(name, int(frac * 100))
                plans[rname] = fixed
                if realise(rname, fixed):
                    break
        from ..latency.model_profile import open_session

        calls = {}
        for name, p in paths.items():
            s = open_session(p, t)
            names = [o.name for o in s.get_outputs()]
            calls[name] = (lambda run, n, f: (lambda: run(n, f)))(s.run, names, batches[0])
        samples, _ = interleave(calls, t.protocol, seed + 1, budget_s)
        ms = {k: stats(v)["median_ms"] for k, v in samples.items()}
        ok = {k for k in paths if k == "fp32" or pa.within(errors[k], tol)}
        pure = min((k for k in ("fp32", "int8") if k in ok), key=lambda k: ms[k])
        best = min(ok, key=lambda k: ms[k])
        margin = 0.01
        if best not in ("fp32", "int8") and ms[best] > ms[pure] * (1 - margin):
            best = pure
        kind = best if best in ("fp32", "int8") else "mixed"
        why = {"fp32": "FP32 measured fastest{}".format("" if "int8" in ok else " (and all-INT8 is outside the tolerance)"),
               "int8": "all-INT8 measured fastest within the tolerance",
               "mixed": "mixed plan '{}' measured {:.1%} faster than the faster pure model".format(best, 1 - ms[best] / ms[pure])}[kind]
        keep = plans[best]
        if kind == "fp32":
            _copy_model(model, out)
        else:
            shutil.copyfile(paths[best], str(out) + ".tmp")
            os.replace(str(out) + ".tmp", str(out))
        shipped_prof = profs["fp32"] if kind == "fp32" else profs["int8"] if kind == "int8" else profile_models(
            {"shipped": str(out)}, t, batches[0], seed, budget_s / 2, progress)["shipped"]
        prof_paths = write_profile(shipped_prof, Path(str(out.with_suffix("")) + ".profile.json"),
                                   "{} ({})".format(out.name, kind))
        group_rows = [dict({k: v for k, v in g.items() if k != "output_shape"}, int8_ms=round(float(cost.q[i]), 5),
                           precision="int8" if keep[i] else "fp32") for i, g in enumerate(groups)]
        report = {"precision": kind, "qdq_flavour": "onnxruntime", "source": str(model),
                  "precision_plan": {"format": pa.PLAN_FORMAT, "fp32_nodes": [n for g, k in zip(groups, keep) if not k
                                                                             for n in g["nodes"]] if kind != "fp32" else
                                     [n for g in groups for n in g["nodes"]], "groups": group_rows},
                  "reason": why, "target": t.name,
                  "tolerance": {"metric": "relative L2 error per output", "max": tol},
                  "calibration": {"source": str(calib_inputs) if calib_inputs else "random (seed {})".format(seed),
                                  "samples": len(batches) * batch, "method": method},
                  "candidates": [{"name": k, "median_ms": round(ms[k], 5), "int8_groups": int(np.sum(plans[k])),
                                  "predicted_ms": round(cost.predict(plans[k]), 5), "within_tolerance": k in ok,
                                  "errors": errors[k]} for k in paths],
                  "measured_in_one_run": sorted(paths), "profile": prof_paths}
        atomic_write_json(Path(str(out) + ".json"), report)
        return PlanResult(out, Path(str(out) + ".json"), kind, ms["fp32"], ms["int8"], ms[best], int(np.sum(keep)),
                          len(groups), errors[best], why, round(time.time() - t0, 1), Path(prof_paths["json"]), report)
    finally:
        shutil.rmtree(work, ignore_errors=True)
