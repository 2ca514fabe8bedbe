"""Per-output comparison of an artifact with its FP32 reference (numpy only; board side, Python 3.8).

The statistics and the tolerance rule are Polygraphy's (``polygraphy.comparator.CompareFunc.simple``),
re-implemented here so the board needs nothing beyond numpy: the relative error is |out - ref| / |ref|
with 2.22e-16 added where the reference is 0; with ``elemwise`` an element fails only when it is outside
*both* the absolute and the relative tolerance; with a statistic (max, mean, median, quantile) the output
fails only when that statistic of the absolute error exceeds atol *and* that of the relative error exceeds
rtol. A tolerance left out counts as 0, so giving only atol checks the absolute error alone.
(tests/test_validate_outputs.py checks these figures and verdicts against Polygraphy where it is installed.)
"""

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import EdgenasError, suggest

EPS = 2.220446049250313e-16  # Polygraphy's epsilon for zeros in the reference
ERROR_STATS = ("elemwise", "max", "mean", "median", "quantile")
DEFAULT = ""  # the key of a per-output mapping that applies to every output not named (Polygraphy's convention)


def per_output(values, flag: str, kind: str = "tolerance") -> Dict[str, Any]:
    """``--atol 0.05`` / ``--atol boxes:0.05 --atol scores:0.01`` (a list, a dict or one value) as
    {output name or "": value}. Tolerances must be finite and >= 0; error statistics one of ERROR_STATS."""
    if values is None:
        return {}
    items: List[Tuple[str, Any]] = []
    if isinstance(values, dict):
        items = [("" if k in ("", "*") else str(k), v) for k, v in values.items()]
    else:
        for v in (values if isinstance(values, (list, tuple)) else [values]):
            if isinstance(v, str) and ":" in v:
                name, _, val = v.rpartition(":")  # output names may hold ':' (TF's 'Identity:0'); the value is last
                items.append((name, val))
            else:
                items.append((DEFAULT, v))
    out: Dict[str, Any] = {}
    for name, raw in items:
        label = "{} {}".format(flag, "{}:{}".format(name, raw) if name else raw)
        if kind == "stat":
            if raw not in ERROR_STATS:
                raise EdgenasError("{}: the error statistic must be one of {}{}".format(
                    label, ", ".join(ERROR_STATS), suggest(str(raw), ERROR_STATS)))
            out[name] = raw
            continue
        try:
            value = float(raw) if not isinstance(raw, bool) else float("nan")
        except (TypeError, ValueError):
            value = float("nan")
        if not math.isfinite(value) or value < 0:
            raise EdgenasError("{}: a tolerance must be a finite number >= 0 (e.g. {} 0.05 or {} boxes:0.05), got {!r}".format(
                label, flag, flag, raw))
        out[name] = value
    return out


def check_names(mapping: Dict[str, Any], outputs: List[str], flag: str) -> None:
    """Every output named in ``mapping`` must be one of the model's ``outputs``."""
    for name in mapping:
        if name and name not in outputs:
            raise EdgenasError("{} names output '{}' but the model's outputs are {}{}".format(
                flag, name, ", ".join(outputs), suggest(name, outputs)))


def pick(mapping: Dict[str, Any], name: str, default=None):
    return mapping.get(name, mapping.get(DEFAULT, default))


def _clean(v: float) -> Optional[float]:
    return float(v) if math.isfinite(v) else None


def _cosines(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-sample cosine similarity; two all-zero samples are identical (1), one all-zero sample is 0."""
    a, b = out.reshape(len(out), -1), ref.reshape(len(ref), -1)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(a * b, 1) / (na * nb)
    cos = np.where((na == 0) & (nb == 0), 1.0, np.where((na == 0) | (nb == 0), 0.0, cos))
    return np.clip(cos, -1.0, 1.0)


def output_stats(out: np.ndarray, ref: np.ndarray, quantile: float = 0.99) -> Dict[str, Any]:
    """Absolute and relative error statistics (max, mean, median, quantile), per-sample cosine similarity,
    and where the worst element is. Non-finite artifact values (where the reference is finite) are counted."""
    o, r = np.asarray(out, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    absd = np.abs(o - r)
    reld = absd / np.where(r == 0, EPS, np.abs(r))
    bad = ~np.isfinite(o) & np.isfinite(r)
    finite = np.isfinite(absd) & np.isfinite(reld)
    a, rl = absd[finite], reld[finite]
    res: Dict[str, Any] = {"shape": list(out.shape), "dtype": str(np.asarray(out).dtype), "nonfinite": int(bad.sum()),
                           "quantile": float(quantile)}
    if a.size:
        qa, qr = np.quantile(a, quantile), np.quantile(rl, quantile)
        worst = np.unravel_index(int(np.argmax(np.where(finite, absd, -1.0))), absd.shape)
        res.update(max_abs=float(a.max()), mean_abs=float(a.mean()), median_abs=float(np.median(a)), quantile_abs=float(qa),
                   max_rel=float(rl.max()), mean_rel=float(rl.mean()), median_rel=float(np.median(rl)), quantile_rel=float(qr),
                   worst_index=[int(i) for i in worst], worst_out=_clean(o[worst]), worst_ref=_clean(r[worst]))
    if o.ndim >= 1 and len(o):
        cos = _cosines(np.where(np.isfinite(o), o, 0.0), np.where(np.isfinite(r), r, 0.0))
        res.update(cosine_mean=float(cos.mean()), cosine_min=float(cos.min()))
    return res


def tolerance_check(out: np.ndarray, ref: np.ndarray, atol: Optional[float], rtol: Optional[float], stat: str,
                    stats: Dict[str, Any]) -> Dict[str, Any]:
    """Polygraphy's rule (module docstring) for one output; ``stats`` from output_stats on the same arrays."""
    at, rt = float(atol or 0.0), float(rtol or 0.0)
    res: Dict[str, Any] = {"stat": stat, "atol": atol, "rtol": rtol}
    if stat == "elemwise":
        o, r = np.asarray(out, dtype=np.float64), np.asarray(ref, dtype=np.float64)
        absd = np.abs(o - r)
        reld = absd / np.where(r == 0, EPS, np.abs(r))
        with np.errstate(invalid="ignore"):
            bad = ((absd > at) | np.isnan(absd)) & ((reld > rt) | np.isnan(reld))
        n = int(bad.sum())
        res.update(passed=n == 0, mismatches=n, elements=int(bad.size), mismatch_pct=100.0 * n / max(1, bad.size),
                   abs=stats.get("max_abs"), rel=stats.get("max_rel"))
        if n:
            idx = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(absd, nan=np.inf), -1.0))), bad.shape)
            res["worst_index"] = [int(i) for i in idx]
        return res
    va, vr = stats.get(stat + "_abs"), stats.get(stat + "_rel")
    ok = stats.get("nonfinite", 0) == 0 and va is not None and vr is not None and not (va > at and vr > rt)
    res.update(passed=bool(ok), abs=va, rel=vr)
    return res


def tolerance_message(name: str, t: Dict[str, Any]) -> str:
    tol = " / ".join("{} {:g}".format(k, t[k]) for k in ("atol", "rtol") if t.get(k) is not None)
    if t["stat"] == "elemwise":
        return "{}: {} of {} elements ({:.2f}%) outside {} (max abs error {}, max rel error {}{})".format(
            name, t["mismatches"], t["elements"], t["mismatch_pct"], tol, _g(t.get("abs")), _g(t.get("rel")),
            ", worst at {}".format(t["worst_index"]) if t.get("worst_index") else "")
    stat = "p{:g}".format(100 * t.get("quantile", 0.99)) if t["stat"] == "quantile" else t["stat"]
    parts = []
    if t.get("atol") is not None:
        parts.append("{} abs error {} > atol {}".format(stat, _g(t.get("abs")), _g(t["atol"])))
    if t.get("rtol") is not None:
        parts.append("{} rel error {} > rtol {}".format(stat, _g(t.get("rel")), _g(t["rtol"])))
    return "{}: {}".format(name, " and ".join(parts) or "{} error is not finite".format(stat))


def _g(v) -> str:
    return "-" if v is None else "{:.4g}".format(v)


def class_stats(out: np.ndarray, ref: np.ndarray, labels: Optional[np.ndarray]) -> Dict[str, Any]:
    """Top-1 agreement of class scores (argmax over the last axis, every position), and top-1 against
    ``labels`` where the scores are (N, classes) and the labels one integer per sample."""
    o, r = np.asarray(out), np.asarray(ref)
    res: Dict[str, Any] = {"top1_agreement": float(np.mean(o.argmax(-1) == r.argmax(-1)) * 100)}
    if labels is not None and o.ndim == 2 and np.ndim(labels) == 1 and len(labels) == len(o) and \
            np.issubdtype(np.asarray(labels).dtype, np.integer):
        res["top1"] = float(np.mean(o.argmax(1) == labels) * 100)
        res["ref_top1"] = float(np.mean(r.argmax(1) == labels) * 100)
    return res


def class_outputs(declared: Optional[List[str]], outputs: Dict[str, np.ndarray]) -> List[str]:
    """The outputs holding class scores: the declared ones (["none"]: no output), or a lone (N, classes) output
    (a classifier)."""
    names = list(outputs)
    if declared and [d.lower() for d in declared] == ["none"] and "none" not in names:
        return []
    if declared:
        check_names({n: 1 for n in declared}, names, "class_outputs (--class-outputs)")
        return [n for n in names if n in declared]
    if len(names) == 1 and outputs[names[0]].ndim == 2 and outputs[names[0]].shape[1] >= 2:
        return names
    return []


def compare_all(out: Dict[str, np.ndarray], ref: Dict[str, np.ndarray], labels: Optional[np.ndarray], classes: List[str],
                atol: Dict[str, float], rtol: Dict[str, float], stat: Dict[str, str], quantile: float = 0.99) -> Dict[str, Any]:
    """Every output of ``out`` against ``ref`` (same names and shapes): {name: statistics (+ tolerance,
    + class-score figures)}."""
    if set(out) != set(ref):
        raise EdgenasError("artifact outputs {} do not match the reference outputs {}".format(list(out), list(ref)))
    res: Dict[str, Any] = {}
    for name in ref:
        if out[name].shape != ref[name].shape:
            raise EdgenasError("artifact output '{}' has shape {} but the reference gives {}".format(
                name, list(out[name].shape), list(ref[name].shape)))
        s = output_stats(out[name], ref[name], quantile)
        if pick(atol, name) is not None or pick(rtol, name) is not None:
            t = tolerance_check(out[name], ref[name], pick(atol, name), pick(rtol, name), pick(stat, name, "elemwise"), s)
            t["quantile"] = quantile
            s["tolerance"] = t
        if name in classes:
            s.update(class_stats(out[name], ref[name], labels), class_scores=True)
        res[name] = s
    return res


def legacy_fields(per: Dict[str, Any], n: int) -> Dict[str, Any]:
    """The single-number fields of a row (the report's table, the pipeline, older readers): the class
    output's top-1 figures where there is exactly one, the worst error and cosine over all outputs."""
    classes = [s for s in per.values() if s.get("class_scores")]
    res: Dict[str, Any] = {"n": int(n), "top1_agreement": classes[0]["top1_agreement"] if len(classes) == 1 else None}
    if len(classes) == 1 and classes[0].get("top1") is not None:
        res.update(top1=classes[0]["top1"], ref_top1=classes[0]["ref_top1"])
    vals = [s for s in per.values() if s.get("max_abs") is not None]
    if vals:
        res.update(max_abs_err=max(s["max_abs"] for s in vals), mean_abs_err=max(s["mean_abs"] for s in vals))
    cos = [s for s in per.values() if s.get("cosine_mean") is not None]
    if cos:
        res.update(cosine_mean=min(s["cosine_mean"] for s in cos), cosine_min=min(s["cosine_min"] for s in cos))
    return res
