"""Your own model through the pipeline (``model: path.onnx`` instead of ``space:``): inputs, per-layer profile
(where edgenas.latency.model_profile is installed), INT8 for int8 targets, the TensorRT check and engine for
TensorRT targets, validation of every output against the FP32 model, and a report. Each stage is cached and
resumable like the search pipeline's; ``board:`` builds and validates on that board over SSH.

Every user mistake (a bad opset, an output named in a tolerance that the model lacks, a metric hook that does
not import, dynamic dims without input_shape) is found before the first stage runs."""

import importlib.util
import io as _io
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..errors import EdgenasError
from ..util.io import atomic_write_bytes


def external_files(path) -> List[str]:
    """The files an ONNX model keeps its weights in (external data), so the stage keys follow them too."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    found = []
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            loc = next((e.value for e in init.external_data if e.key == "location"), None)
            if loc:
                f = str(Path(path).parent / loc)
                if not Path(f).is_file():
                    raise EdgenasError("{} keeps weights in {}, which does not exist; keep the .data file beside the "
                                       ".onnx".format(path, f))
                found.append(f)
    return sorted(set(found))


def _hook_files(spec: Optional[str]) -> List[str]:
    """The metric hook's source file (a changed hook re-runs the validation)."""
    if not spec:
        return []
    module = spec.rpartition(":")[0]
    if module.endswith(".py") or "/" in module or os.sep in module:
        return [module]
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    return [found.origin] if found is not None and found.origin and Path(found.origin).is_file() else []


def _save_inputs(path: str, feeds: Dict[str, np.ndarray], labels) -> None:
    arrays: Dict[str, Any] = {"inputs": next(iter(feeds.values()))} if len(feeds) == 1 else dict(feeds)
    if labels is not None:
        arrays["labels"] = labels
    buf = _io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _profile_stage(p, model: str, artifact: str, inputs_npz: str, io, shapes) -> Optional[str]:
    """The model's own per-layer profile where the profiler is installed (edgenas.latency.model_profile), on
    ONNX Runtime targets; otherwise skipped with a note. Returns its JSON path or None."""
    t = p.target
    if importlib.util.find_spec("edgenas.latency.model_profile") is None:
        p.log("[{:<9}] skipped  the per-layer profiler (edgenas.latency.model_profile) is not installed".format("profile"))
        return None
    if t.backend != "onnxruntime" or p.cfg.board:
        p.log("[{:<9}] skipped  the per-layer profile runs on ONNX Runtime here; profile on the board with: edgenas "
              "profile {}".format("profile", Path(model).name))
        return None
    from ..latency import model_profile as mp

    if not hasattr(mp, "profile_models"):
        p.log("[{:<9}] skipped  this edgenas' profiler has no profile_models()".format("profile"))
        return None
    from ..util.io import atomic_write_json
    from ..validation.inputs import batch_size, first_batch, load_npz_inputs

    out = str(p.out / "06-profile" / "profile.json")
    precision = _precision(artifact, model, p.target.precision)
    models = {"fp32": model} if precision == "fp32" else {"fp32": model, precision: artifact}

    def run():
        feeds, _ = load_npz_inputs(inputs_npz, io, shapes)
        res = mp.profile_models(models, t, first_batch(feeds, batch_size(io, shapes)), seed=p.cfg.seed)
        atomic_write_json(out, res)
        return _profile_note(res)

    p.stage("profile", {"target": t.sha256, "models": sorted(models)}, [model, artifact, inputs_npz], [out], run)
    return out


def _precision(artifact: str, model: str, default: str) -> str:
    """What the artifact is: its sidecar's precision (a measured plan may keep FP32), else the target's."""
    if artifact == model:
        return "fp32"
    try:
        import json

        return str(json.loads(Path(artifact + ".json").read_text()).get("precision") or default)
    except (OSError, ValueError):
        return default


def _profile_note(res: Dict[str, Any]) -> Optional[str]:
    notes = []
    for key, prof in (res or {}).items():
        e2e = ((prof or {}).get("e2e") or {}).get("median_ms")
        if isinstance(e2e, (int, float)):
            notes.append("{} {:.4f} ms end to end, {} layers".format(key, e2e, len(prof.get("rows") or [])))
    return ", ".join(notes) or None


def run_model(p) -> Dict[str, Any]:
    """The own-model stages; returns the report's summary (name, status, rows, stages, shipped, report paths)."""
    from ..tasks.compress import quantize
    from ..tasks.deploy import build
    from ..validation.inputs import (RANDOM_WARNING, check_opset, load_npz_inputs, onnx_io, parse_input_shapes,
                                     random_inputs)
    from ..validation.outputs import check_names
    from .deploy_stages import _has_tensorrt, static_check
    from .model_report import write_model_report

    c, t, o = p.cfg, p.target, p.out
    v = c.validate
    model = str(c.model)
    io = onnx_io(model)
    check_opset(io)
    profiles = None
    if c.shapes:  # TensorRT profiles; everything else runs at the first profile's opt shape unless input_shape says
        from ..runtime import shapes as S

        profiles = S.resolve(c.shapes, model, "shapes")
        bad = S.infer_problems(model, profiles)
        if bad:
            raise EdgenasError("shapes: {}".format(bad[0]))
        p.log("[{:<9}] shapes   {}; validation and the budget at opt".format("inputs", S.describe(profiles)))
    opt = {n: list(v) for n, v in S.at(profiles[0], "opt").items()} if profiles else None
    shapes = parse_input_shapes(c.input_shape or opt, io)
    for flag, mapping in (("validate.atol", v.atol), ("validate.rtol", v.rtol), ("validate.error_stat", v.error_stat)):
        check_names(mapping, io.output_names, flag)
    if v.class_outputs and v.class_outputs != ["none"]:
        check_names({n: 1 for n in v.class_outputs}, io.output_names, "validate.class_outputs")
    if v.metric:
        from ..validation.metric import load_metric

        load_metric(v.metric)
    if c.inputs is None:
        random_inputs(io, shapes, 1, pipeline=True)  # dynamic dims without input_shape: said now, not after some stages
    srcs = [model] + external_files(model)
    warnings: List[str] = []
    if c.inputs is None:
        warnings.append(RANDOM_WARNING.replace("give --inputs file.npz (or --data / --images)", "give inputs: file.npz"))
        p.log("[{:<9}] warning  {}".format("inputs", warnings[-1]))
    inputs_npz = str(o / "00-model" / "inputs.npz")
    n_random = min(v.limit or 64, 64)

    def make_inputs():
        if c.inputs:
            feeds, labels = load_npz_inputs(c.inputs, io, shapes, v.limit)
            note = "{} samples from {}".format(len(next(iter(feeds.values()))), c.inputs)
        else:
            feeds, labels = random_inputs(io, shapes, n_random, c.seed), None
            note = "{} random samples (seed {})".format(n_random, c.seed)
        _save_inputs(inputs_npz, feeds, labels)
        return note

    p.stage("inputs", {"limit": v.limit, "shapes": shapes, "seed": c.seed, "random": c.inputs is None},
            srcs + ([c.inputs] if c.inputs else []), [inputs_npz], make_inputs)
    artifact = model
    if t.precision == "int8":
        artifact = str(o / "07-int8" / "model.int8.onnx")
        q = c.quantize
        auto = _planner(p) if (q.plan or "auto") == "auto" else None

        def do_quantize():
            if auto is not None:  # edgenas quantize --plan auto: measured FP32 / INT8 / mixed plans, fastest within tolerance
                Path(artifact).parent.mkdir(parents=True, exist_ok=True)
                r = auto(model, artifact, t, calib_inputs=inputs_npz, calib_size=q.calib_size, input_shape=shapes or None,
                         max_rel_error=q.max_rel_error, method=q.method, seed=c.seed, progress=False)
                return "plan auto: shipped {} ({} of {} groups INT8): {}".format(r.shipped, r.int8_groups, r.groups, r.reason)
            r = quantize(model, artifact, t, q.method, q.calib_size, calib_inputs=inputs_npz, min_sqnr_db=q.min_sqnr_db,
                         calib_cache_out=str(Path(artifact).parent / "calib.json"))
            return "{} flavour, {} calibration samples, {} layer(s) kept in float".format(
                r.flavour, r.calibration_images, len(r.kept_float))

        p.stage("quantize", dict(asdict(q), target=t.sha256, auto=auto is not None, shapes=shapes), srcs + [inputs_npz],
                [artifact], do_quantize)
    elif t.precision == "fp16":
        p.log("[{:<9}] skipped  {} is fp16: TensorRT builds the FP32 model at FP16".format("quantize", t.name))
    profile_json = _profile_stage(p, model, artifact, inputs_npz, io, shapes)
    board_cmds: List[str] = []
    run_art = artifact
    if t.backend == "tensorrt":
        batch_dynamic = any(not isinstance(tn.dims[0], int) for tn in io.inputs if tn.dims)
        b = next((s[0] for s in shapes.values()), 1)
        dyn = (b, b, b) if batch_dynamic else None
        if profiles:
            dyn = None  # the profiles cover every dynamic dimension, the batch included
        static_check(p, artifact, t, dyn, c.shapes)
        engine = str(o / "08-engine" / "model.engine")
        if c.board or _has_tensorrt():
            where = {"board": c.board} if c.board else {}
            p.stage("build", dict(where, target=t.sha256, dyn=dyn, shapes=c.shapes), [artifact], [engine, engine + ".json"],
                    lambda: build(artifact, t, engine, dynamic_batch=dyn, board=c.board, progress=False, shapes=c.shapes) and None)
            run_art = engine
        else:
            refs = str(o / "00-model" / "ref_outputs.npz")
            p.stage("reference", {}, srcs + [inputs_npz], [refs], lambda: _save_reference(model, inputs_npz, io, shapes, refs))
            dyn_flag = " --dynamic-batch {},{},{}".format(*dyn) if dyn else ""
            if profiles:
                dyn_flag = "".join(" --shapes {}".format(x) for x in ([c.shapes] if isinstance(c.shapes, str) else c.shapes))
            board_cmds.append("edgenas build {} --target {}{} --out model.engine".format(Path(artifact).name, t.name, dyn_flag))
            board_cmds.append("python tools/validate_on_device.py model.engine --target {} --inputs inputs.npz --ref-outputs "
                              "ref_outputs.npz{} --out report/".format(t.name, _check_flags(v)))
            p.log("[{:<9}] skipped  TensorRT is not installed here; build and validate on the board".format("build"))
            return write_model_report(p, model, artifact, None, board_cmds, warnings, profile_json)
    vd = o / "09-validate"

    def do_validate():
        from ..tasks.validate import validate

        r = validate(run_art, model, t, vd, inputs=inputs_npz, limit=v.limit, max_acc_drop=v.max_acc_drop,
                     min_agreement=v.min_agreement, min_cosine=v.min_cosine,
                     max_latency_over_predicted=v.max_latency_over_predicted, board=c.board, progress=False,
                     input_shape=shapes or None, atol=v.atol, rtol=v.rtol, error_stat=v.error_stat,
                     error_quantile=v.error_quantile, class_outputs=v.class_outputs or None, metric=v.metric,
                     max_metric_drop=v.max_metric_drop, max_latency_ms=c.latency_ms, warnings=warnings)
        return "{}{}{}".format(r.status, " on board {}".format(c.board) if c.board else "",
                               " ({} failing check(s))".format(len(r.failures)) if r.failures else "")

    p.stage("validate", dict(asdict(v), budget=c.latency_ms, board=c.board, target=t.sha256, shapes=shapes),
            srcs + [run_art, inputs_npz] + _hook_files(v.metric), [str(vd / "report.json")], do_validate)
    return write_model_report(p, model, artifact, str(vd / "report.json"), board_cmds, warnings, profile_json)


def _check_flags(v) -> str:
    """The validate: section as tools/validate_on_device.py flags (the board judges the same checks)."""
    flags = [("--class-outputs", ",".join(v.class_outputs))] if v.class_outputs else []
    for flag, mapping in (("--atol", v.atol), ("--rtol", v.rtol), ("--error-stat", v.error_stat)):
        flags += [(flag, "{}:{}".format(k, x) if k else str(x)) for k, x in mapping.items()]
    flags += [("--min-cosine", str(v.min_cosine))]
    return "".join(" {} {}".format(f, x) for f, x in flags)


def _planner(p):
    """edgenas quantize --plan auto (``edgenas.tasks.own_model.quantize_auto``) where it is installed and applies:
    an ONNX Runtime int8 target measured here (not on a board). None: quantize every layer, said in the log."""
    t = p.target
    why = None
    if importlib.util.find_spec("edgenas.tasks.own_model") is None:
        why = "the precision planner (quantize --plan auto) is not installed"
    elif t.backend != "onnxruntime":
        why = "the measured precision plan runs on ONNX Runtime, {} is {}".format(t.name, t.backend)
    elif p.cfg.board:
        why = "the measured precision plan times this machine, not board {}".format(p.cfg.board)
    if why is None:
        from ..tasks import own_model

        fn = getattr(own_model, "quantize_auto", None)
        if fn is not None:
            return fn
        why = "this edgenas has no quantize_auto"
    p.log("[{:<9}] note     {}: every layer is quantized (quantize.plan: none)".format("quantize", why))
    return None


def _save_reference(model: str, inputs_npz: str, io, shapes, out: str) -> str:
    """The FP32 model's outputs on the prepared inputs (ONNX Runtime here), for validation on the board."""
    from ..backends.onnxruntime import OrtRunner
    from ..validation.inputs import batch_size, load_npz_inputs, run_all
    from ..validation.run import save_outputs

    feeds, _ = load_npz_inputs(inputs_npz, io, shapes)
    with OrtRunner(model) as r:
        save_outputs(out, run_all(r, feeds, batch_size(io, shapes)), feeds)
    return "FP32 outputs for the board's comparison"
