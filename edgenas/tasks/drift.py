"""Check a latency table against the board at hand before trusting it: provenance field by field, then
a handful of the table's own reference networks timed on the board (here, or over SSH) against the
table's predictions. Ends with the table to use: the original, a rescaled copy, or a re-profiled one."""

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.checks import check, output_dir
from .common import Log, PathLike, as_target, say

DECISIONS = ("ok", "rescale", "reprofiled", "inconclusive")
PASSES = 3  # measurement passes at most; each ~10 s for the demo space on a CPU


@dataclass
class DriftResult:
    decision: str                 # ok | rescale | reprofiled | inconclusive (kept as it is)
    table: Path                   # the table to use from now on
    source: Path                  # the table that was checked
    reason: str
    factor: float = 1.0
    offset_ms: float = 0.0
    residual_pct: float = 0.0
    max_error_pct: float = 0.0
    spearman: Optional[float] = None
    noise_pct: float = 0.0
    mismatches: List[str] = field(default_factory=list)
    networks: List[Dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    report: Optional[Path] = None

    def summary(self) -> List[str]:
        head = {"ok": "table holds on this board", "rescale": "table rescaled to {:.3f}x{}".format(
                    self.factor, " {:+.4f} ms".format(self.offset_ms) if self.offset_ms else ""),
                "reprofiled": "table re-profiled on this board",
                "inconclusive": "too noisy to decide, table kept as it is"}[self.decision]
        lines = ["drift check: {} ({:.0f} s): {}".format(head, self.seconds, self.reason)]
        lines += ["  differs: " + m for m in self.mismatches]
        lines.append("  using {}".format(self.table))
        return lines


def _reference(lt, space, k: int, seed: int):
    """Genotypes and table predictions for ``k`` of the table's reference networks (or fresh ones for a
    table that lists none)."""
    import numpy as np

    from ..latency.drift import reference_indices
    from ..latency.predictor import Predictor

    nets = lt.header.get("calibration_networks") or []
    if nets:
        picked = [nets[i] for i in reference_indices([n["measured_ms"] for n in nets], k)]
        if getattr(space, "precisions", None):
            archs = [space.with_plan(n["arch"], n.get("precision_plan") or ["fp32"] * len(space.base.ops(space.base.from_string(n["arch"]))))
                     for n in picked]
        else:
            archs = [space.from_string(n["arch"]) for n in picked]
        G = np.stack([space.encode(a) for a in archs])
    else:
        from ..latency.bundle import reference_genotypes

        G = reference_genotypes(space, k, seed)
    return G, Predictor(lt, space).predict(G)


def _measure(bundle: Path, target, out: Path, board, progress: bool, accept_new_host_key: bool):
    from ..latency.table import LatencyTable

    if board is None:
        from ..latency.board import profile_bundle

        try:
            return profile_bundle(bundle, target, out, show_progress=progress)
        except EdgenasError as e:
            raise EdgenasError("this board cannot run the drift check's reference networks: {}".format(e))
    from .profile import profile

    profile(target, out, bundle=bundle, board=board, progress=progress, accept_new_host_key=accept_new_host_key)
    return LatencyTable.load(out)


def check_table(table: PathLike, target=None, out: PathLike = "runs/drift", board=None, networks: int = 6,
                reprofile: bool = True, seed: int = 0, progress: bool = True, accept_new_host_key: bool = False,
                tolerance_pct: float = 10.0, trust_when_noisy: bool = False, log: Log = print) -> DriftResult:
    """Is ``table`` true on this board (this machine, or ``board`` over SSH)? Time ``networks`` of its reference
    networks interleaved with the target's protocol and decide: use it (within tolerance), rescale it (a uniform
    drift with the ranking intact: the copy lands in ``out``), or re-profile the board into ``out`` (``reprofile``;
    otherwise refuse with the command). A check too noisy to decide raises with what to do, or with
    ``trust_when_noisy`` (the pipeline, which judges the budget on measured latency anyway) says so and keeps the
    table as it is."""
    import numpy as np

    from ..latency.bundle import plan_bundle
    from ..latency.drift import decide, has_fingerprint, provenance_mismatches, rescaled
    from ..latency.table import LatencyTable
    from ..space import space_from_description
    from ..util.io import atomic_write_json

    check("networks", networks)
    if not (isinstance(tolerance_pct, (int, float)) and 0 < tolerance_pct < 100):
        raise EdgenasError("tolerance_pct is {!r}; give a percentage between 0 and 100 (default 10)".format(tolerance_pct))
    t0 = time.time()
    lt = LatencyTable.load(table)
    t = as_target(target if target is not None else lt.target_name)
    lt.check_matches(target=t, precision=t.precision)
    if lt.header.get("target_sha256") and lt.header["target_sha256"] != t.sha256:
        say(log, "warning: table {} was measured with target '{}' as it was then (hash {}); the target in use has hash {}: "
                 "its settings changed since".format(lt.name, t.name, lt.header["target_sha256"][:12], t.sha256[:12]))
    if t.backend == "torch":
        raise EdgenasError("target '{}' times PyTorch ops on a GPU; check its table by re-profiling there: edgenas profile "
                           "--target {}".format(t.name, t.name))
    out = output_dir(out, "drift check folder")
    space = space_from_description(lt.header["space"])
    if not has_fingerprint(lt.header):
        say(log, "warning: table {} records no device fingerprint (an older table): it cannot be compared field by field; "
                 "the drift check's measurements decide".format(lt.name))
    G, predicted = _reference(lt, space, networks, seed)
    say(log, "drift check: timing {} reference networks of {} on {} ...".format(len(G), lt.name, board or "this machine"))
    sys.stdout.flush()
    bundle = out / "bundle"
    plan_bundle(space, t, bundle, n_networks=len(G), seed=seed, show_progress=False, genotypes=G)
    passes: List[np.ndarray] = []
    noises: List[float] = []
    for k in range(PASSES):  # interference only adds time: a pass that does not settle it is followed by another,
        mini = _measure(bundle, t, out / "measured-{}.json".format(k + 1), board, progress, accept_new_host_key)
        nets = mini.header["calibration_networks"]
        passes.append(np.array([n["measured_ms"] for n in nets]))
        noises.append(float(np.median([n["noise_pct"] for n in nets])))
        measured, noise = np.min(passes, axis=0), min(noises)  # and the least disturbed of them decides
        d = decide(predicted, measured, noise, t.protocol.max_spread_pct, tolerance_pct=tolerance_pct)
        if d["decision"] in ("ok", "rescale"):
            break
    d["passes"] = len(passes)
    mismatches = provenance_mismatches(lt.header, mini.header.get("device") or {}, mini.header.get("software") or {},
                                       t.threads) if has_fingerprint(lt.header) else []
    rows = [{"name": n["name"], "arch": n["arch"], "predicted_ms": round(float(p), 5), "measured_ms": round(float(m), 5),
             "ratio": round(float(m) / float(p), 4), "noise_pct": n["noise_pct"]} for n, p, m in zip(nets, predicted, measured)]
    record = dict(d, source=lt.name, source_created=lt.header.get("created"), mismatches=mismatches, networks=rows,
                  device=mini.header.get("device"), software=mini.header.get("software"), board=board)
    use = Path(table)
    decision = d["decision"]
    if decision == "inconclusive":
        if not trust_when_noisy:
            atomic_write_json(out / "drift.json", dict(record, seconds=round(time.time() - t0, 1)))
            raise EdgenasError("drift check of {} inconclusive: {}".format(lt.name, d["reason"]))
        say(log, "drift check inconclusive: {}; the table is used as it is".format(d["reason"]))
    if decision in ("ok", "rescale", "inconclusive"):  # a copy that records the check (factor 1 when the table holds as it is)
        use = out / "table.checked.json"
        keep = ("factor", "offset_ms", "residual_pct", "max_error_pct", "spearman", "noise_pct", "source", "device", "software", "board")
        factor, offset = (d["factor"], d["offset_ms"]) if decision == "rescale" else (1.0, 0.0)
        rescaled(lt, factor, dict({k: record[k] for k in keep}, decision=decision, factor=factor, offset_ms=offset),
                 offset).save(use)
    elif decision == "reprofile":
        cmd = "edgenas profile --target {} --space {} --resolution {}{} --out {}".format(
            t.name, space.name, space.resolution, " --precision mixed" if getattr(space, "precisions", None) else "",
            "TABLE.json") + (" --board {}".format(board) if board else "")
        if not reprofile:
            atomic_write_json(out / "drift.json", dict(record, seconds=round(time.time() - t0, 1)))
            raise EdgenasError("table {} does not hold on this board: {}; re-profile it with: {}".format(lt.name, d["reason"], cmd))
        say(log, "drift check: {}; re-profiling this board (resumable; {})".format(d["reason"], cmd))
        from .profile import profile

        use = out / "table.json"
        base = getattr(space, "base", space)
        profile(t, use, space=base, precision="mixed" if getattr(space, "precisions", None) else None, seed=seed,
                progress=progress, board=board, accept_new_host_key=accept_new_host_key)
        decision = "reprofiled"
    res = DriftResult(decision, use, Path(table), d["reason"], d["factor"], d["offset_ms"], d["residual_pct"], d["max_error_pct"], d["spearman"],
                      d["noise_pct"], mismatches, rows, round(time.time() - t0, 1), out / "drift.json")
    atomic_write_json(out / "drift.json", dict(record, decision=decision, table=_rel(use), seconds=res.seconds))
    _plot(out, rows, d["factor"], d["offset_ms"])
    for line in res.summary():
        say(log, line)
    return res


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return p.name


def _plot(out: Path, rows: List[Dict[str, Any]], factor: float, offset: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    p = [r["predicted_ms"] for r in rows]
    m = [r["measured_ms"] for r in rows]
    fig, ax = plt.subplots(figsize=(4.2, 4))
    lim = [0, max(p + m) * 1.15]
    ax.fill_between(lim, [v * 0.9 for v in lim], [v * 1.1 for v in lim], color="0.9", label="±10%")
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.scatter(p, m, label="table")
    if abs(factor - 1) > 1e-9 or offset:
        ax.scatter([v * factor + offset for v in p], m, marker="x", label="rescaled")
    ax.set(xlabel="predicted (ms)", ylabel="measured here (ms)", xlim=lim, ylim=lim, title="drift check")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "drift.png", dpi=100)
    plt.close(fig)
