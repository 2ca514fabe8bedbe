"""Read-only stages: predict an architecture's latency from a table, and summarise a table. The CLI's
``edgenas predict`` and ``edgenas inspect table`` print these results."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

from ..util.checks import check
from .common import PathLike


@dataclass
class PredictResult:
    arch: str                # the arch string
    latency_ms: float        # the calibrated prediction
    params: int
    macs: int
    target: str
    precision: str
    ops: List[Tuple[str, float]] = field(default_factory=list)  # (table key, ms) per op, in order
    loo_mape_pct: float = float("nan")  # the table calibration's leave-one-out error


@dataclass
class TableInfo:
    path: str
    target: str
    precision: str
    entries: int
    summary: List[str]                     # provenance, noise and calibration, one line each
    slowest: List[Tuple[str, float]]       # (op, median ms)
    noisiest: List[Tuple[str, float]]      # (op, noise %)
    header: Dict[str, Any] = field(repr=False, default_factory=dict)


def predict(table: PathLike, arch) -> PredictResult:
    """``arch`` (a string, a dict, or a JSON file holding {"arch": ...}) predicted on ``table``."""
    from ..latency.drift import warn_foreign
    from ..latency.predictor import Predictor
    from ..latency.table import LatencyTable
    from .common import read_arch

    t = LatencyTable.load(table)
    warn_foreign(t)
    pred = Predictor(t)
    a = read_arch(pred.space, arch)
    total, parts = pred.predict_arch(a)
    params, macs = pred.space.cost(a)
    return PredictResult(pred.space.to_string(a), float(total), int(params), int(macs), t.target_name,
                         t.header["precision"], [(k, float(ms)) for k, ms in parts], float(t.calibration["loo_mape_pct"]))


def inspect_table(table: PathLike, top: int = 5) -> TableInfo:
    """A latency table's provenance and quality, with its ``top`` slowest and noisiest entries."""
    from ..latency.table import LatencyTable

    check("top", top)
    t = LatencyTable.load(table)
    by_lat = sorted(t.entries.items(), key=lambda kv: -kv[1]["median_ms"])[:top]
    by_noise = sorted(t.entries.items(), key=lambda kv: -kv[1].get("noise_pct", 0.0))[:top]
    return TableInfo(str(t.path), t.target_name, t.header["precision"], len(t.entries), t.summary(),
                     [(k, e["median_ms"]) for k, e in by_lat], [(k, e.get("noise_pct", 0.0)) for k, e in by_noise], t.header)
