"""Is a latency table true on the board at hand? Board-side safe (stdlib + numpy).

Two checks. ``provenance_mismatches`` compares what the table recorded (device fingerprint, runtime
versions, threads) with the board, field by field: anything that changes speed. ``decide`` compares
the table's predictions for a handful of its own reference networks with what the board measures now
(interleaved, the target's protocol): use the table, rescale it by one measured factor (a uniform
drift with the ranking intact), re-profile, or call the check inconclusive when its own
measurements are too noisy to decide.
"""

import math
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .table import LatencyTable

OK_FACTOR_PCT = 5.0      # a median drift this small is used as is
TOLERANCE_PCT = 10.0     # every reference net within this of its (rescaled) prediction
MIN_SPEARMAN = 0.9       # the ranking the search relies on must survive
DEFAULT_NETWORKS = 6


def _versions(sw: Dict[str, Any], names: Sequence[str]) -> Dict[str, str]:
    return {n: str(sw[n]) for n in names if sw.get(n) not in (None, "", "unknown")}


def provenance_mismatches(header: Dict[str, Any], device: Dict[str, Any], software: Dict[str, Any],
                          threads: Optional[int] = None) -> List[str]:
    """What differs between the machine that measured the table and ``device``/``software`` (this board),
    in every field that changes speed; one phrase per field. A table already checked on this board
    (a ``drift`` section) is compared with the board it was checked on."""
    drift = header.get("drift") or {}
    rec_dev = drift.get("device") or header.get("device") or {}
    rec_sw = drift.get("software") or header.get("software") or {}
    out: List[str] = []

    def diff(label: str, was, now) -> None:
        if was is not None and now is not None and was != now:
            out.append("{}: table {} / here {}".format(label, was, now))

    rc, nc = rec_dev.get("cpu") or {}, device.get("cpu") or {}
    diff("CPU model", rc.get("model"), nc.get("model"))
    diff("CPU architecture", rc.get("machine"), nc.get("machine"))
    if rc.get("isa") is not None and nc.get("isa") is not None and set(rc["isa"]) != set(nc["isa"]):
        lost, gained = sorted(set(rc["isa"]) - set(nc["isa"])), sorted(set(nc["isa"]) - set(rc["isa"]))
        out.append("CPU ISA: {}{}{}".format("table has " + ",".join(lost) if lost else "",
                                             "; " if lost and gained else "", "here has " + ",".join(gained) if gained else ""))
    diff("CPU governor", ",".join(rc["governor"]) if rc.get("governor") else None,
         ",".join(nc["governor"]) if nc.get("governor") else None)
    if threads is not None and nc.get("affinity") is not None and nc["affinity"] < threads:
        out.append("threads: the target uses {} but this process may run on {} core(s)".format(threads, nc["affinity"]))
    rg, ng = rec_dev.get("gpu") or {}, device.get("gpu") or {}
    for f, label in (("name", "GPU"), ("compute_capability", "compute capability"), ("driver", "GPU driver"),
                     ("sm_clock_max", "GPU max SM clock"), ("power_limit", "GPU power limit")):
        diff(label, rg.get(f), ng.get(f))
    rj, nj = rec_dev.get("jetson") or {}, device.get("jetson") or {}
    for f, label in (("model", "Jetson"), ("l4t", "L4T"), ("nvpmodel", "Jetson power mode"),
                     ("gpu_clock_locked", "Jetson GPU clock locked")):
        diff(label, rj.get(f), nj.get(f))
    diff("CUDA", rec_dev.get("cuda"), device.get("cuda"))
    runtimes = ("onnxruntime", "tensorrt", "torch")
    rv, nv = _versions(rec_sw, runtimes), _versions(software, runtimes)
    for name in runtimes:
        diff(name, rv.get(name), nv.get(name))
    return out


def board_at_hand(target, board: Optional[str] = None):
    """(True, "") when the target's board can be timed now: over SSH (``board``), or this machine for a CPU
    target on ONNX Runtime, or a TensorRT target where TensorRT imports; else (False, why)."""
    return _at_hand(target.backend, target.board.kind, board)


def _at_hand(backend: str, kind: str, board: Optional[str] = None):
    if board:
        return True, ""
    if backend == "onnxruntime" and kind == "cpu":
        return True, ""
    if backend == "tensorrt":
        try:
            import tensorrt  # noqa: F401
        except Exception:
            return False, "this machine is not the target's board (no TensorRT here)"
        return True, ""
    return False, "this machine is not a '{}' board".format(kind)


def foreign_table_warning(table: LatencyTable) -> Optional[str]:
    """Where this machine is the table's board (a CPU table here, a TensorRT table on a machine with TensorRT):
    one line naming every speed-relevant field that differs from the machine that measured it, or None."""
    t = table.header.get("target") or {}
    if not _at_hand(t.get("backend", ""), (t.get("board") or {}).get("kind", ""))[0]:
        return None
    from ..runtime.device import fingerprint, software_versions

    if not has_fingerprint(table.header):
        return ("table {} records no device fingerprint (an older table); check it on this machine with: edgenas drift {}"
                .format(table.name, table.path or table.name))
    diffs = provenance_mismatches(table.header, fingerprint(), software_versions(), table.header.get("threads"))
    if not diffs:
        return None
    return ("table {} was measured on another machine ({}): its predictions may not hold here; check it with: "
            "edgenas drift {}".format(table.name, "; ".join(diffs), table.path or table.name))


def has_fingerprint(header: Dict[str, Any]) -> bool:
    dev = header.get("device")
    return isinstance(dev, dict) and bool(dev.get("cpu") or dev.get("gpu") or dev.get("jetson"))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    ra, rb = np.argsort(np.argsort(a)).astype(float), np.argsort(np.argsort(b)).astype(float)
    if len(ra) < 2 or ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def reference_indices(measured_ms: Sequence[float], k: int) -> List[int]:
    """``k`` of the table's reference networks spread over its latency range, extremes included."""
    order = np.argsort(measured_ms)
    picks = np.unique(np.round(np.linspace(0, len(order) - 1, min(k, len(order)))).astype(int))
    return [int(order[i]) for i in picks]


def fit_drift(predicted_ms: Sequence[float], measured_ms: Sequence[float]):
    """(factor, offset_ms): measured ~ factor * predicted + offset, least squares on relative error. The offset
    (a per-call cost that differs, as on a busier or older CPU) is kept only where it matters (> 2% of the
    fastest net); otherwise one factor: the median ratio."""
    p, m = np.asarray(predicted_ms, float), np.asarray(measured_ms, float)
    factor = float(math.exp(np.median(np.log(m / p))))
    if len(p) >= 4 and np.ptp(p) > 0:
        A = np.stack([p / m, 1 / m], 1)
        (a, b), *_ = np.linalg.lstsq(A, np.ones_like(m), rcond=None)
        if a > 0 and abs(b) > 0.02 * m.min() and np.all(a * p + b > 0.5 * m):
            resid_affine = np.max(np.abs((a * p + b) / m - 1))
            if resid_affine < np.max(np.abs(factor * p / m - 1)):
                return float(a), float(b)
    return factor, 0.0


def decide(predicted_ms: Sequence[float], measured_ms: Sequence[float], noise_pct: float, max_noise_pct: float,
           tolerance_pct: float = TOLERANCE_PCT, ok_factor_pct: float = OK_FACTOR_PCT,
           min_spearman: float = MIN_SPEARMAN) -> Dict[str, Any]:
    """The drift decision from the table's predictions and this board's measurements of the same nets."""
    p, m = np.asarray(predicted_ms, float), np.asarray(measured_ms, float)
    r = m / p
    median_ratio = float(math.exp(np.median(np.log(r))))
    err = float(np.max(np.abs(r - 1))) * 100
    factor, offset = fit_drift(p, m)
    resid = float(np.max(np.abs((factor * p + offset) / m - 1))) * 100
    rho = spearman(p, m)
    out = {"factor": round(factor, 4), "offset_ms": round(offset, 5), "median_ratio": round(median_ratio, 4),
           "max_error_pct": round(err, 2), "residual_pct": round(resid, 2),
           "spearman": round(rho, 4) if rho == rho else None, "noise_pct": round(float(noise_pct), 2),
           "tolerance_pct": tolerance_pct}
    rho_s = "-" if rho != rho else "{:.2f}".format(rho)
    if noise_pct > max_noise_pct:
        why = ("the check's own measurements vary {:.1f}% between rounds, more than the target's {:.0f}%: this board was "
               "busy or throttling, so drift cannot be told from noise; stop other work (lock clocks on a Jetson) and run "
               "it again, or pass --drift-check off to trust the table as it is").format(noise_pct, max_noise_pct)
        return dict(out, decision="inconclusive", reason=why)
    if err <= tolerance_pct and abs(median_ratio - 1) * 100 <= ok_factor_pct:
        return dict(out, factor=1.0, offset_ms=0.0, decision="ok",
                    reason="every reference network within {:.1f}% of the table (median ratio {:.3f})".format(err, median_ratio))
    if resid <= tolerance_pct and (rho != rho or rho >= min_spearman):
        return dict(out, decision="rescale", reason=(
            "this board runs the reference networks at {:.2f}x the table's time{}, uniformly (ranking kept: Spearman {}, "
            "largest error {:.1f}% after rescaling, {:.1f}% before)").format(
            factor, " {:+.4f} ms".format(offset) if offset else "", rho_s, resid, err))
    why = ("the drift is not uniform: after the best rescaling ({:.2f}x{}) a reference network is still {:.1f}% off "
           "(Spearman {}); the ops' relative speeds differ on this board").format(
        factor, " {:+.4f} ms".format(offset) if offset else "", resid, rho_s)
    return dict(out, decision="reprofile", reason=why)


def rescaled(table: LatencyTable, factor: float, drift: Dict[str, Any], offset_ms: float = 0.0) -> LatencyTable:
    """A copy of ``table`` that predicts ``factor`` x its prediction + ``offset_ms``: every latency (entries,
    overhead, reference networks) times ``factor``, the offset added to the calibration; ``drift`` is
    recorded in its header."""
    import copy

    h = copy.deepcopy(table.header)
    entries = copy.deepcopy(table.entries)
    for e in entries.values():
        for f in ("median_ms", "p90_ms"):
            e[f] = round(e[f] * factor, 6)
    cal = h["calibration"]
    cal["offset_ms"] = cal["offset_ms"] * factor + offset_ms
    cal["overhead_ms"] = cal["overhead_ms"] * factor
    if isinstance(h.get("noise"), dict) and "overhead_ms" in h["noise"]:
        h["noise"]["overhead_ms"] = h["noise"]["overhead_ms"] * factor
    for n in h.get("calibration_networks") or []:
        for f in ("measured_ms", "p90_ms", "block_sum_ms"):
            if f in n:
                n[f] = round(n[f] * factor, 6)
    h["drift"] = dict(drift, checked=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return LatencyTable(h, entries)


def warn_foreign(table: LatencyTable) -> None:
    """``foreign_table_warning`` on stderr, where there is one."""
    import sys

    w = foreign_table_warning(table)
    if w:
        sys.stderr.write("edgenas: warning: {}\n".format(w))
