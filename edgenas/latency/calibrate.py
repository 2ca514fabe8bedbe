"""Calibrated correction from the block sum to end-to-end latency (board-side safe: numpy only).

On ONNX Runtime CPU the naive block sum was 0.74-1.39x of measured end-to-end latency, so a table
carries a correction ``e2e = scale * sum(op - overhead) + offset`` learned from whole reference networks
measured in the same interleaved rounds. Three nested models are tried - naive (scale 1, offset = one
run overhead), offset-only and affine - and the one with the lowest leave-one-out error is kept, so a
noisy calibration set cannot make the table worse than the plain sum.
"""

from typing import Any, Callable, Dict, Sequence, Tuple

import numpy as np

Fit = Callable[[np.ndarray, np.ndarray, float], Tuple[float, float]]


def _naive(x: np.ndarray, y: np.ndarray, ovh: float) -> Tuple[float, float]:
    return 1.0, ovh


def _offset(x: np.ndarray, y: np.ndarray, ovh: float) -> Tuple[float, float]:
    # minimise sum(((x + o) / y - 1)^2): every network weighs the same in relative error
    return 1.0, float(np.sum((1 - x / y) / y) / np.sum(1 / y ** 2))


def _affine(x: np.ndarray, y: np.ndarray, ovh: float) -> Tuple[float, float]:
    A = np.stack([x, np.ones_like(x)], 1) / y[:, None]
    coef, *_ = np.linalg.lstsq(A, np.ones_like(y), rcond=None)
    return float(coef[0]), float(coef[1])


MODELS: Dict[str, Fit] = {"naive": _naive, "offset": _offset, "affine": _affine}


def _errors(fit: Fit, x: np.ndarray, y: np.ndarray, ovh: float):
    s, o = fit(x, y, ovh)
    loo = np.empty_like(y)
    for i in range(y.size):
        keep = np.arange(y.size) != i
        si, oi = fit(x[keep], y[keep], ovh)
        loo[i] = si * x[i] + oi
    return s, o, 100 * (s * x + o - y) / y, 100 * (loo - y) / y


def fit_calibration(block_sums_ms: Sequence[float], measured_ms: Sequence[float], overhead_ms: float) -> Dict[str, Any]:
    x, y = np.asarray(block_sums_ms, float), np.asarray(measured_ms, float)
    if x.size < 3:
        raise ValueError("calibration needs at least 3 reference networks")
    results = {name: _errors(fit, x, y, overhead_ms) for name, fit in MODELS.items()}
    loo_mape = {name: float(np.mean(np.abs(r[3]))) for name, r in results.items()}
    best = min(loo_mape, key=lambda n: loo_mape[n] - (1e-9 if n == "naive" else 0))
    scale, offset, err, loo_err = results[best]
    naive = (x + overhead_ms) / y
    return {
        "model": best, "scale": scale, "offset_ms": offset, "overhead_ms": overhead_ms, "n_networks": int(y.size),
        "fit_mape_pct": float(np.mean(np.abs(err))), "fit_max_err_pct": float(np.max(np.abs(err))),
        "loo_mape_pct": loo_mape[best], "loo_max_err_pct": float(np.max(np.abs(loo_err))),
        "loo_mape_by_model": loo_mape,
        "naive_ratio_min": float(naive.min()), "naive_ratio_max": float(naive.max()),
    }


def apply_calibration(cal: Dict[str, Any], block_sums_ms):
    return cal["scale"] * np.asarray(block_sums_ms, float) + cal["offset_ms"]
