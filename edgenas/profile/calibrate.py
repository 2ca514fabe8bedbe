"""Calibrated correction from the block sum to end-to-end latency (board-side safe: numpy only).

On ONNX Runtime CPU the naive block sum was 0.74-1.39x of measured end-to-end latency, so a table
carries an affine fit ``e2e = scale * sum(op - overhead) + offset`` learned from whole reference
networks measured in the same interleaved rounds, with its in-sample and leave-one-out error.
"""

from typing import Any, Dict, Sequence

import numpy as np


def _fit(x: np.ndarray, y: np.ndarray):
    # Relative least squares: divide each row by y so every network weighs the same in % error.
    A = np.stack([x, np.ones_like(x)], 1) / y[:, None]
    coef, *_ = np.linalg.lstsq(A, np.ones_like(y), rcond=None)
    return float(coef[0]), float(coef[1])


def fit_calibration(block_sums_ms: Sequence[float], measured_ms: Sequence[float], overhead_ms: float) -> Dict[str, Any]:
    x, y = np.asarray(block_sums_ms, float), np.asarray(measured_ms, float)
    if x.size < 3:
        raise ValueError("calibration needs at least 3 reference networks")
    scale, offset = _fit(x, y)
    pred = scale * x + offset
    loo = np.empty_like(y)
    for i in range(y.size):
        keep = np.arange(y.size) != i
        s, o = _fit(x[keep], y[keep])
        loo[i] = s * x[i] + o
    err = 100 * (pred - y) / y
    loo_err = 100 * (loo - y) / y
    naive = (x + overhead_ms) / y
    return {
        "model": "affine", "scale": scale, "offset_ms": offset, "overhead_ms": overhead_ms, "n_networks": int(y.size),
        "fit_mape_pct": float(np.mean(np.abs(err))), "fit_max_err_pct": float(np.max(np.abs(err))),
        "loo_mape_pct": float(np.mean(np.abs(loo_err))), "loo_max_err_pct": float(np.max(np.abs(loo_err))),
        "naive_ratio_min": float(naive.min()), "naive_ratio_max": float(naive.max()),
    }


def apply_calibration(cal: Dict[str, Any], block_sums_ms):
    return cal["scale"] * np.asarray(block_sums_ms, float) + cal["offset_ms"]
