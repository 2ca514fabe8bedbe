"""Numpy preprocessing that matches training (board-side safe): scale, pad/crop, normalise."""

import zipfile
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import EdgenasError
from .loaders import load_dataset


def preprocess(images: np.ndarray, shape, normalize: Dict[str, float]) -> np.ndarray:
    x = images.astype(np.float32) * np.float32(normalize.get("scale", 1 / 255.0))
    c, h = int(shape[1]), int(shape[2])
    if x.shape[1] != c:
        raise EdgenasError("data has {} channel(s) but the model takes {}".format(x.shape[1], c))
    r = x.shape[-1]
    if r < h:
        p = h - r
        x = np.pad(x, ((0, 0), (0, 0), (p // 2, p - p // 2), (p // 2, p - p // 2)))
    elif r > h:
        o = (r - h) // 2
        x = x[..., o:o + h, o:o + h]
    return ((x - np.float32(normalize["mean"])) / np.float32(normalize["std"])).astype(np.float32)


def dataset_inputs(spec: Optional[str], sidecar: Dict[str, Any], limit: Optional[int], split: str = "test",
                   seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """(inputs, labels) ready for the model described by ``sidecar`` (from its ``.onnx.json``)."""
    if not sidecar:
        raise EdgenasError("the model has no sidecar .onnx.json with its input normalisation; export it with "
                           "'edgenas export', or pass an inputs .npz")
    if spec is None:
        spec = sidecar.get("data")
    ds = load_dataset(spec, split).subset(limit, seed)
    return preprocess(ds.images, sidecar["input"]["shape"], sidecar["input"]["normalize"]), ds.labels


def load_inputs(path) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """An inputs .npz holding 'inputs' (N,C,H,W float32) and optionally 'labels'."""
    try:
        with np.load(str(path), allow_pickle=False) as z:
            if "inputs" not in z.files:
                raise EdgenasError("{} must hold an 'inputs' array (and optionally 'labels')".format(path))
            inputs, labels = z["inputs"].astype(np.float32), (z["labels"] if "labels" in z.files else None)
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as e:  # absent, empty, not a zip, truncated
        why = "not an .npz file" if "pickle" in str(e) else (str(e).splitlines() or [type(e).__name__])[0]
        raise EdgenasError("cannot read inputs {}: {}; write it with np.savez(path, inputs=x)".format(path, why))
    if labels is not None:
        if labels.ndim != 1 or labels.dtype.kind not in "iu" or (inputs.ndim and len(labels) != len(inputs)):
            raise EdgenasError("{}: 'labels' must be integers, one per input ({} inputs), got {} {} values; fix the file "
                               "or drop 'labels'".format(path, len(inputs) if inputs.ndim else 0, labels.dtype,
                                                          list(labels.shape)))
    return inputs, labels


def check_inputs(x: np.ndarray, sidecar: Optional[Dict[str, Any]], where: str) -> None:
    """Inputs must be non-empty, NCHW, finite, and match the model's input contract where it is known."""
    if x.ndim != 4:
        raise EdgenasError("{}: inputs must be NCHW (4-D), got shape {}".format(where, list(x.shape)))
    if len(x) == 0:
        raise EdgenasError("{}: no inputs (0 images); give at least one, or a larger --limit".format(where))
    if not np.isfinite(x).all():
        raise EdgenasError("{}: inputs hold NaN or infinite values".format(where))
    want = (sidecar or {}).get("input", {}).get("shape")
    if want and list(x.shape[1:]) != [int(v) for v in want[1:]]:
        raise EdgenasError("{}: inputs are {} per image but the model takes {}; preprocess them to the model's input".format(
            where, list(x.shape[1:]), list(want[1:])))
