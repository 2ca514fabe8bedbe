"""Host: prune to a latency target, export to ONNX (+ sidecar), quantize to a backend's INT8 Q/DQ."""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.checks import check_args, input_file, output_path
from .common import PathLike, as_target


@dataclass
class PruneResult:
    checkpoint: Path
    params_before_m: float
    params_after_m: float
    predicted_before_ms: Optional[float]
    predicted_ms: Optional[float]
    measured_ms: Optional[float]
    latency_source: str
    val_acc_before: float
    val_acc_pruned: float
    val_acc_finetuned: float
    seconds: float
    info: Dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class ExportResult:
    onnx: Path
    sidecar: Path
    size_kb: float
    seconds: float
    inputs: Optional[Path] = None
    ref_outputs: Optional[Path] = None


@dataclass
class QuantizeResult:
    onnx: Path
    flavour: str
    kept_float: List[str]
    calibration_images: int
    size_kb_before: float
    size_kb_after: float
    seconds: float
    report: Dict[str, Any] = field(repr=False, default_factory=dict)


def prune(model: PathLike, table: PathLike, latency_ms: float, out: PathLike, round_to: int = 8,
          importance: str = "magnitude", measure: bool = True, finetune_epochs: int = 1, lr: float = 0.01,
          data: Optional[str] = None, train_subset: Optional[int] = None, val_size: int = 2000, device: str = "auto",
          progress: bool = True) -> PruneResult:
    """Structured channel pruning (Torch-Pruning) to ``latency_ms`` on the table's target, then fine-tuning.
    Where the target's runtime runs here, the result is refined on measured latency (``measure``)."""
    check_args(dict(latency_ms=latency_ms, round_to=round_to, finetune_epochs=finetune_epochs, lr=lr,
                    train_subset=train_subset, val_size=val_size))
    if latency_ms is None:
        raise EdgenasError("latency_ms is required: the latency target to prune to")
    import torch
    import torch.nn.functional as F

    from ..backends.registry import get_backend
    from ..compress.prune import measure_latency_fn, prune_to_latency
    from ..latency.predictor import Predictor
    from ..latency.table import LatencyTable
    from ..nas.session import load_model, prepare_data
    from ..nas.tensors import accuracy
    from ..nas.train import save_checkpoint, train_model
    from ..targets import target_from_dict
    from ..util.torchdev import resolve_device

    output_path(out, "pruned checkpoint")
    t0 = time.time()
    dev = resolve_device(device)
    net, meta, space = load_model(model)
    lat_table = LatencyTable.load(table)
    from ..latency.drift import warn_foreign

    warn_foreign(lat_table)
    pred = Predictor(lat_table, space)
    target = target_from_dict(lat_table.header["target"], "table target")
    spec = data or meta.get("data") or meta.get("options", {}).get("data")
    d = prepare_data(spec, space.resolution, train_subset, val_size, 0, norm=meta["norm"], channels=space.config["in_channels"],
                     num_classes=space.config["num_classes"], device=dev)

    def acc(m) -> float:  # pruning runs on the CPU; evaluation and fine-tuning on the device
        r = accuracy(m.to(dev), d["val"])
        m.cpu()
        return r

    x = torch.randn(*space.input_shape())
    measure_fn = measure_latency_fn(target, space.input_shape()) if measure and get_backend(target.backend).host_timing else None
    taylor_x, taylor_y = (v.cpu() for v in d["train"].batch(torch.arange(min(256, len(d["train"])))))

    def taylor_grads(m):
        m.zero_grad()
        F.cross_entropy(m(taylor_x), taylor_y).backward()

    arch = space.from_string(meta["arch"])
    acc0 = acc(net)
    res = prune_to_latency(net, arch, pred, latency_ms, x, importance, round_to, measure_fn, taylor_grads)
    pruned = res["model"]
    acc_pruned = acc(pruned)
    if finetune_epochs:
        train_model(pruned.to(dev), d["train"], finetune_epochs, 128, lr, 0, "finetune", progress)
        pruned = pruned.cpu()
    acc_ft = acc(pruned)
    p0 = sum(p.numel() for p in net.parameters())
    p1 = sum(p.numel() for p in pruned.parameters())
    info = {k: v for k, v in res.items() if k != "model"}
    info.update(target_ms=latency_ms, importance=importance, round_to=round_to, params_before=p0, params_after=p1,
                val_acc_before=acc0, val_acc_pruned=acc_pruned, val_acc_finetuned=acc_ft)
    save_checkpoint(out, pruned.state_dict(), dict(meta, pruned=info, val_accuracy=acc_ft, source="prune"))
    return PruneResult(Path(out), p0 / 1e6, p1 / 1e6, res["base_predicted_ms"], res["predicted_ms"], res["measured_ms"],
                       res["latency_source"], acc0, acc_pruned, acc_ft, round(time.time() - t0, 1), info)


def export(model: PathLike, out: PathLike, inputs: Optional[int] = None, dynamic_batch: bool = False) -> ExportResult:
    """ONNX (opset 17, weights inside) + ``out.json`` sidecar with the input contract; ``inputs=N`` also
    saves N preprocessed test images and the FP32 outputs on them for validation on the board."""
    check_args(dict(inputs=inputs))
    from ..modelio.model_export import export_model, sidecar_path
    from ..nas.session import load_model

    output_path(out, "ONNX output")
    t0 = time.time()
    net, meta, space = load_model(model)
    path = export_model(net, meta, space, out, dynamic_batch=dynamic_batch)
    res = ExportResult(path, sidecar_path(path), path.stat().st_size / 1024, round(time.time() - t0, 1))
    if inputs:
        res.inputs, res.ref_outputs = _save_board_inputs(path, inputs)
    return res


def _save_board_inputs(path: Path, n: int):
    import io

    import numpy as np

    from ..backends.onnxruntime import OrtRunner
    from ..data.preprocess import dataset_inputs
    from ..modelio.model_export import read_sidecar
    from ..util.io import atomic_write_bytes
    from ..validation.compare import run_batched
    from ..validation.run import save_outputs

    x, labels = dataset_inputs(None, read_sidecar(path), n)
    buf = io.BytesIO()
    np.savez(buf, inputs=x, labels=labels)
    ins, refs = Path(str(path) + ".inputs.npz"), Path(str(path) + ".ref_outputs.npz")
    atomic_write_bytes(ins, buf.getvalue())
    with OrtRunner(path) as r:
        save_outputs(refs, run_batched(r, x, r.input_specs()[0][1][0]), x)
    return ins, refs


def quantize(model: PathLike, out: PathLike, target="cpu-x86-ort-int8", method: str = "minmax", calib_size: int = 256,
             calib_data: Optional[str] = None, calib_inputs: Optional[PathLike] = None, min_sqnr_db: Optional[float] = 15.0,
             calib_cache_in: Optional[PathLike] = None, calib_cache_out: Optional[PathLike] = None,
             keep_float: Optional[List[int]] = None, precision_plan: Optional[List[str]] = None,
             shapes=None) -> QuantizeResult:
    """Static INT8 Q/DQ in the flavour ``target``'s backend takes (TensorRT: symmetric int8, no quantized
    bias), calibrated on the model's own data; layers whose SQNR falls below ``min_sqnr_db`` stay in
    float (None disables), as do the layers (block indices) in ``keep_float`` and the fp32 ops of a
    precision plan (``precision_plan``, by default the one a mixed search stored in the ONNX sidecar).
    ``calib_inputs``: an .npz, or (a model with dynamic dims) a folder of .npz files or a comma-separated list,
    each at its own shape; ``shapes`` (runtime.shapes syntax): the deployment's ranges, which every calibration
    input must lie in (the report says how much of each range the calibration spans)."""
    check_args(dict(calib_size=calib_size, min_sqnr_db=-1 if min_sqnr_db is None else min_sqnr_db))
    import dataclasses

    from ..compress.qdq import qdq_flavour
    from ..compress.quantize import quantize_model
    from ..data.preprocess import dataset_inputs
    from ..modelio.model_export import read_sidecar, sidecar_path
    from ..modelio.onnx_export import load_onnx
    from ..modelio.onnx_ops import check_ort_loadable
    from ..util.io import atomic_write_json

    if method not in ("minmax", "entropy", "percentile"):
        raise EdgenasError("method must be minmax, entropy or percentile, not '{}'".format(method))
    t = as_target(target)
    if t.precision != "int8":
        raise EdgenasError("target '{}' is {}, not int8; quantize for an int8 target (edgenas targets list)".format(t.name, t.precision))
    input_file(model, "model")
    output_path(out, "quantized ONNX")
    t0 = time.time()
    load_onnx(model)
    check_ort_loadable(model, "quantize needs a model ONNX Runtime can run (it calibrates with it): replace the op")
    flavour = qdq_flavour(t)
    quant = dataclasses.replace(t.quantization, method=method)
    side = read_sidecar(model)
    plan = precision_plan if precision_plan is not None else side.get("precision_plan")
    plan = plan or None  # an empty plan: quantize every op, whatever the sidecar says
    if plan is not None:
        keep_float = sorted(set(keep_float or []) | set(_plan_float_blocks(plan, side, t)))
    notes: List[str] = []
    if calib_inputs and _varying(calib_inputs):
        calib = _varying_calib(model, calib_inputs, calib_size, shapes, notes)
    elif shapes:
        raise EdgenasError("shapes (--shapes) check a calibration set of several sizes: give --calib-inputs a folder of .npz "
                           "files (one per shape) or a comma-separated list of them")
    elif calib_inputs:
        calib = _calib_inputs(model, calib_inputs, calib_size)
    else:
        calib, _ = dataset_inputs(calib_data, side, calib_size, split="train", seed=1)
    report = quantize_model(model, out, calib, quant, None if min_sqnr_db is None or min_sqnr_db < 0 else min_sqnr_db,
                            calib_cache_in, calib_cache_out, flavour=flavour, keep_float=keep_float)
    if side:
        atomic_write_json(sidecar_path(out), dict(side, precision="mixed" if keep_float and plan else "int8", qdq_flavour=flavour,
                                                  precision_plan=plan,
                                                  quantization=dict(report, target=t.name), fp32_source=str(model)))
    kept = report.get("kept_float", [])
    report["calibration_notes"] = notes
    n_calib = len(next(iter(calib.values()))) if isinstance(calib, dict) else \
        sum(len(next(iter(b.values()))) for b in calib) if isinstance(calib, list) else len(calib)
    return QuantizeResult(Path(out), flavour, kept, n_calib, Path(model).stat().st_size / 1024,
                          Path(out).stat().st_size / 1024, round(time.time() - t0, 1), report)


def _varying(path) -> bool:
    return isinstance(path, (list, tuple)) or "," in str(path) or Path(str(path)).is_dir()


def _varying_calib(model: PathLike, path, n: int, shapes, notes: List[str]) -> List[Dict[str, Any]]:
    """Calibration batches of several shapes (a model with dynamic dims): every .npz in a folder (or a list), each
    checked against the model's fixed dims and cut into single inferences; with ``shapes``, each must lie in a
    profile, and ``notes`` gets how much of each declared range they span."""
    from ..runtime import shapes as S
    from ..validation.inputs import load_npz_inputs, onnx_io

    files = sorted(Path(str(path)).glob("*.npz")) if not isinstance(path, (list, tuple)) and Path(str(path)).is_dir() \
        else [Path(p.strip()) for p in (path if isinstance(path, (list, tuple)) else str(path).split(",")) if str(p).strip()]
    if not files:
        raise EdgenasError("calibration folder {} holds no .npz files; save one per input shape with np.savez".format(path))
    io = onnx_io(model)
    batch = next((t.dims[0] for t in io.inputs if t.dims and isinstance(t.dims[0], int) and t.dims[0] > 0), 1)
    batches: List[Dict[str, Any]] = []
    for f in files:
        feeds, _ = load_npz_inputs(f, io, {})
        m = len(next(iter(feeds.values())))
        batches += [{k: v[i:i + batch] for k, v in feeds.items()} for i in range(0, m - batch + 1, batch)]
    batches = _spread(batches, max(1, n // batch))
    if shapes:
        profiles = S.resolve(shapes, model)
        notes += S.coverage([{k: v.shape for k, v in b.items()} for b in batches], profiles)
    return batches


def _spread(batches: List[Dict[str, Any]], n: int) -> List[Dict[str, Any]]:
    """At most ``n`` batches, taken evenly across the list (so every shape stays represented)."""
    if len(batches) <= n:
        return batches
    import numpy as np

    return [batches[int(i)] for i in np.linspace(0, len(batches) - 1, n).round().astype(int)]


def _calib_inputs(model: PathLike, path: PathLike, n: int):
    """The first ``n`` samples of a calibration .npz: an array for a one-input model ('inputs' or its name), or
    {input name: array} for a model with several inputs; checked against the model's inputs."""
    from ..validation.inputs import load_npz_inputs, onnx_io

    io = onnx_io(model)
    feeds, _ = load_npz_inputs(path, io, {}, n)
    return next(iter(feeds.values())) if len(feeds) == 1 else feeds


def _plan_float_blocks(plan, side: Dict[str, Any], target) -> List[int]:
    """Block indices a plan keeps in float, after checking it against the model and the target."""
    supported = ("int8", "fp32")
    if not isinstance(plan, list) or not plan:
        raise EdgenasError("a precision plan is a list of per-op precisions ({}), got {!r}".format(" or ".join(supported), plan))
    bad = sorted({p for p in plan if p not in supported})
    if bad:
        raise EdgenasError("precision plan holds {} which target '{}' does not run here; supported: {}".format(
            ", ".join(bad), target.name, ", ".join(supported)))
    if side.get("arch") and side.get("space"):
        from ..space import space_from_description

        space = space_from_description(side["space"])
        n_ops = len(space.ops(space.from_string(side["arch"])))
        if len(plan) != n_ops:
            raise EdgenasError("the precision plan has {} entries but the model has {} ops (stem, layers, head); it was "
                               "searched for another architecture".format(len(plan), n_ops))
    return [i for i, p in enumerate(plan) if p == "fp32"]
