"""Export a trained model checkpoint to ONNX with a sidecar JSON describing its input contract."""

import json
from pathlib import Path
from typing import Any, Dict

from ..errors import EdgenasError
from ..util.io import atomic_write_json, sha256_file
from .onnx_export import export_onnx


def sidecar_path(onnx_path) -> Path:
    return Path(str(onnx_path) + ".json")


def read_sidecar(onnx_path) -> Dict[str, Any]:
    p = sidecar_path(onnx_path)
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except ValueError:
        raise EdgenasError("{} is corrupt; re-export the model".format(p))


def export_model(model, meta: Dict[str, Any], space, out, dynamic_batch: bool = False) -> Path:
    """ONNX at ``out`` plus ``out.json``: normalisation, input shape, classes, arch and provenance."""
    path = export_onnx(model, space.input_shape(), out, dynamic_batch=dynamic_batch)
    side = {"format": "edgenas.model_sidecar/1", "onnx_sha256": sha256_file(path), "input": {
        "name": "input", "shape": list(space.input_shape()), "dtype": "float32", "layout": "NCHW",
        "normalize": {"scale": 1 / 255.0, "mean": meta["norm"]["mean"], "std": meta["norm"]["std"]}},
        "output": {"name": "output", "classes": meta.get("classes")}, "space": meta["space"], "arch": meta["arch"],
        "precision": "fp32", "dataset": meta.get("dataset"), "data": meta.get("data")}
    if meta.get("precision_plan"):
        side["precision_plan"] = meta["precision_plan"]  # the searched per-op precisions, for edgenas quantize
    atomic_write_json(sidecar_path(path), side)
    return path
