"""Post-training static INT8 in explicit Q/DQ form with an explicit calibration cache and a
per-layer sensitivity pass (onnxruntime.quantization does the calibration maths).

Sensitivity: every activation of the fully quantized model is compared with the float model's value
at the same tensor (onnxruntime.quantization.qdq_loss_debug); the nodes whose output SQNR falls below
the threshold are excluded from quantization and the model is quantized again, so they stay in float.
(ORT's local pre/post-Q/DQ error is not used: where the quantizer folds a ReLU into the Q range it
reports the ReLU itself as a 3 dB "error".) Healthy INT8 layers measured 24-36 dB here, and every
float layer costs speed, so the default threshold (15 dB) only catches layers that quantization breaks.
"""

import inspect
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..errors import EdgenasError
from ..util.io import atomic_write_json, sha256_bytes, sha256_file, sha256_json
from .qdq import quantize_qdq

MIN_CALIB = 16


def _input_shape(path) -> List[Any]:
    from ..modelio.onnx_export import load_onnx

    model = load_onnx(path)
    inits = {i.name for i in model.graph.initializer}
    inp = [i for i in model.graph.input if i.name not in inits][0]
    return [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim], inp.name


def check_calibration(calib: np.ndarray, shape, path) -> None:
    if calib.ndim != len(shape) or any(s is not None and s != c for s, c in zip(shape[1:], calib.shape[1:])):
        raise EdgenasError("calibration set has shape {} but {} takes {}; preprocess it to the model's input".format(
            list(calib.shape), path, ["N" if s is None else s for s in shape]))
    if len(calib) < MIN_CALIB:
        raise EdgenasError("calibration set has {} images; give at least {} (a few hundred is better)".format(len(calib), MIN_CALIB))


def _dict_batches(path, calib: Dict[str, np.ndarray]):
    """(batches of {input name: array}, None, data sha256) for a model with several inputs, each checked."""
    import hashlib

    from ..modelio.onnx_export import load_onnx

    model = load_onnx(path)
    inits = {i.name for i in model.graph.initializer}
    shapes = {i.name: [d.dim_value if d.HasField("dim_value") else None for d in i.type.tensor_type.shape.dim]
              for i in model.graph.input if i.name not in inits}
    missing = sorted(set(shapes) - set(calib))
    if missing:
        raise EdgenasError("calibration set lacks input(s) {} of {}; give one array per model input".format(", ".join(missing), path))
    for name, shape in shapes.items():
        check_calibration(calib[name], shape, "{} (input '{}')".format(path, name))
    if len({len(calib[n]) for n in shapes}) > 1:
        raise EdgenasError("calibration inputs hold different numbers of samples ({}); give every input the same".format(
            ", ".join("{} {}".format(n, len(calib[n])) for n in shapes)))
    b = next(iter(shapes.values()))[0] or 1
    n = len(calib[next(iter(shapes))])
    batches = [{k: calib[k][i:i + b] for k in shapes} for i in range(0, n - b + 1, b)]
    h = hashlib.sha256()
    for k in sorted(shapes):
        h.update(k.encode("utf-8") + b"\0" + np.ascontiguousarray(calib[k]).tobytes())
    return batches, None, h.hexdigest()


def varying_batches(batches: List[Dict[str, np.ndarray]], method: str):
    """(batches, None, data sha256) for calibration batches of different shapes (a model with dynamic dims:
    every size the deployment covers). ONNX Runtime's MinMax calibrator takes them; its histogram calibrators
    (entropy, percentile) stack all batches into one array and fail on mixed shapes."""
    import hashlib

    if not batches:
        raise EdgenasError("calibration set is empty; give at least one .npz of inputs")
    n = sum(len(next(iter(b.values()))) for b in batches)
    if n < MIN_CALIB:
        raise EdgenasError("calibration set has {} samples; give at least {} (a few hundred is better)".format(n, MIN_CALIB))
    sizes = {tuple(sorted((k, v.shape[1:]) for k, v in b.items())) for b in batches}
    if len(sizes) > 1 and method != "minmax":
        raise EdgenasError("calibration inputs of {} different shapes need --method minmax: ONNX Runtime's {} calibrator "
                           "stacks every batch into one array, which mixed shapes cannot be".format(len(sizes), method))
    h = hashlib.sha256()
    for b in batches:
        for k in sorted(b):
            h.update(k.encode("utf-8") + b"\0" + str(b[k].shape).encode() + np.ascontiguousarray(b[k]).tobytes())
    return [dict(b) for b in batches], None, h.hexdigest()


def _shapes_of(batch) -> Any:
    return tuple(sorted((k, v.shape) for k, v in batch.items())) if isinstance(batch, dict) else np.shape(batch)


def _batches(calib: np.ndarray, batch) -> List[np.ndarray]:
    b = batch or 1
    return [calib[i:i + b] for i in range(0, len(calib) - b + 1, b)]


def node_sqnr(fp32_path, qdq_path, inputs: List[Any], input_name: Optional[str]) -> Dict[str, float]:
    """SQNR (dB) of each tensor of the quantized model against the float model: lower is more damage."""
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)
    from .qdq import _Reader

    with tempfile.TemporaryDirectory() as tmp:
        f_aug, q_aug = str(Path(tmp) / "f.onnx"), str(Path(tmp) / "q.onnx")
        modify_model_output_intermediate_tensors(str(fp32_path), f_aug, save_as_external_data=False)
        modify_model_output_intermediate_tensors(str(qdq_path), q_aug, save_as_external_data=False)
        fa = collect_activations(f_aug, _Reader(input_name, inputs))
        qa = collect_activations(q_aug, _Reader(input_name, inputs))
    errors = compute_activation_error(create_activation_matching(qa, fa))
    return {k: float(v["xmodel_err"]) for k, v in errors.items() if "xmodel_err" in v}


def block_nodes(model, blocks: List[int]) -> List[str]:
    """Names of the ONNX nodes of top-level blocks ``blocks`` (torch.onnx names them '/<index>/...')."""
    prefixes = tuple("/{}/".format(int(b)) for b in blocks)
    return [n.name for n in model.graph.node if n.name.startswith(prefixes)]


def quantize_model(fp32_path, out_path, calib: Any, quant, min_sqnr_db: Optional[float] = 15.0,
                   cache_in=None, cache_out=None, flavour: str = "onnxruntime",
                   keep_float: Optional[List[int]] = None) -> Dict[str, Any]:
    """Quantize ``fp32_path`` to Q/DQ INT8 at ``out_path``. Returns a report of what was done.
    ``keep_float``: block indices (a precision plan) whose nodes stay in float."""
    import onnx

    if isinstance(calib, list):  # inputs of varying shapes: a list of {input name: array} batches (a dynamic model)
        batches, input_name, data_sha = varying_batches(calib, quant.method)
        n_calib = sum(len(next(iter(b.values()))) for b in calib)
    elif isinstance(calib, dict):  # a model with several inputs: {input name: array}
        batches, input_name, data_sha = _dict_batches(fp32_path, calib)
        n_calib = len(next(iter(calib.values())))
    else:
        shape, input_name = _input_shape(fp32_path)
        check_calibration(calib, shape, fp32_path)
        batches = _batches(calib, shape[0])
        data_sha, n_calib = sha256_bytes(np.ascontiguousarray(calib).tobytes()), len(calib)
    key = {"model_sha256": sha256_file(fp32_path), "data_sha256": data_sha,
           "method": quant.method, "activation_type": quant.activation_type, "weight_type": quant.weight_type,
           "per_channel": quant.per_channel, "flavour": flavour}
    fp32_model = onnx.load(str(fp32_path))
    planned = block_nodes(fp32_model, keep_float or [])
    if keep_float and not planned:
        raise EdgenasError("the precision plan keeps blocks {} in float but {} has no such blocks; the plan does not "
                           "match this model".format(keep_float, fp32_path))
    report: Dict[str, Any] = {"calibration": dict(key, images=int(n_calib), cache_in=str(cache_in) if cache_in else None,
                                                  cache_out=str(cache_out) if cache_out else None),
                              "flavour": flavour, "plan_float_blocks": sorted(int(b) for b in keep_float or [])}
    tmp_dirs: List[str] = []
    try:
        ort_cache = _cache_path(key, cache_in, cache_out, tmp_dirs)
        excluded: List[str] = []
        quantize_qdq(fp32_path, out_path, batches, quant, input_name, nodes_to_exclude=planned, calibration_cache=ort_cache,
                     flavour=flavour)
        if min_sqnr_db is not None:
            first = [b for b in batches if _shapes_of(b) == _shapes_of(batches[0])]  # ORT stacks these per tensor
            sqnr = node_sqnr(fp32_path, out_path, first[:4], input_name)
            producers = {o: n.name for n in fp32_model.graph.node for o in n.output}
            weak = sorted((v, k) for k, v in sqnr.items() if v < min_sqnr_db and k in producers)
            excluded = sorted({producers[k] for _, k in weak} - set(planned))
            report["sensitivity"] = {"min_sqnr_db": min_sqnr_db, "worst": [{"tensor": k, "sqnr_db": round(v, 2)} for v, k in sorted((v, k) for k, v in sqnr.items())[:5]],
                                     "kept_float": excluded}
            if excluded:
                quantize_qdq(fp32_path, out_path, batches, quant, input_name, nodes_to_exclude=planned + excluded,
                             calibration_cache=ort_cache, flavour=flavour)
        report["kept_float"] = sorted(set(planned) | set(excluded))
        if cache_out and ort_cache and Path(ort_cache).resolve() != Path(cache_out).resolve():
            shutil.copyfile(ort_cache, cache_out)
        if cache_out:
            atomic_write_json(str(cache_out) + ".key.json", key)
    finally:
        for d in tmp_dirs:
            shutil.rmtree(d, ignore_errors=True)
    report["output"] = {"path": str(out_path), "sha256": sha256_file(out_path)}
    return report


def _cache_path(key: Dict[str, Any], cache_in, cache_out, tmp_dirs: List[str]) -> Optional[str]:
    from onnxruntime.quantization import quantize_static

    if not (cache_in or cache_out):
        return None
    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise EdgenasError("calibration caches need a newer onnxruntime (its quantize_static has no calibration_cache_path)")
    if cache_in:
        kp = Path(str(cache_in) + ".key.json")
        if not Path(cache_in).is_file() or not kp.is_file():
            raise EdgenasError("calibration cache {} (and its .key.json) does not exist".format(cache_in))
        try:
            old = json.loads(kp.read_text())
        except ValueError:
            raise EdgenasError("calibration cache key {} is corrupt; drop --calib-cache-in to recalibrate".format(kp))
        if old != key:
            diff = [k for k in key if old.get(k) != key[k]]
            raise EdgenasError("calibration cache {} was made for another {}; drop --calib-cache-in to recalibrate".format(
                cache_in, "/".join(diff)))
        tmp_dirs.append(tempfile.mkdtemp(prefix="edgenas-calib-"))
        tmp = Path(tmp_dirs[-1]) / ("cache-" + sha256_json(key)[:12] + ".json")
        shutil.copyfile(cache_in, tmp)
        return str(tmp)
    if Path(cache_out).exists():
        Path(cache_out).unlink()
    return str(cache_out)
