"""Validation report: one row per artifact, every check with its value and threshold, PASS / FAIL /
INCONCLUSIVE, as JSON and Markdown. Every FAIL states its reasons (``failures``), and a latency check whose
miss lies within the run's own measurement noise is INCONCLUSIVE with the reason, not a plain FAIL."""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..util.io import atomic_write_json, atomic_write_text


HELP = {"max_acc_drop": "largest top-1 accuracy drop against the FP32 reference, in points",
        "min_agreement": "least top-1 agreement with the FP32 reference, in percent",
        "min_cosine": "least mean cosine similarity of the outputs with the reference",
        "max_latency_over_predicted": "largest measured p50 / predicted latency ratio"}


@dataclass
class Thresholds:
    """PASS / FAIL limits: one name and one default each. The CLI flags (--max-acc-drop ...), the API keywords
    (validate(max_acc_drop=...)) and the pipeline's ``validate:`` YAML keys all use these names and defaults."""
    max_acc_drop: float = 1.0
    min_agreement: float = 97.0
    min_cosine: float = 0.99
    max_latency_over_predicted: float = 1.10
    # Polygraphy-style tolerances per output name ("" or "*": every output not named); none: no tolerance check
    atol: Dict[str, float] = field(default_factory=dict)
    rtol: Dict[str, float] = field(default_factory=dict)
    error_stat: Dict[str, str] = field(default_factory=dict)  # elemwise (default), max, mean, median, quantile
    error_quantile: float = 0.99
    max_metric_drop: float = 1.0  # in the metric hook's own units (a hook returning percent: points)
    max_latency_ms: Optional[float] = None  # a latency budget for the artifact's measured p50


def threshold_help(name: str) -> str:
    """A flag's help: what the threshold means and its default."""
    return "{} (default {:g})".format(HELP[name], getattr(Thresholds(), name))


Check = Dict[str, Any]  # {"check", "passed" (True / False / None = inconclusive), "value", "threshold", "message"}


def _latency(name: str, row: Dict[str, Any], limit: float, what: str) -> Tuple[Optional[bool], str]:
    p50 = row["latency_p50_ms"]
    if p50 <= limit:
        return True, "p50 {:.4f} ms <= {} {:.4f} ms".format(p50, what, limit)
    noise, most = row.get("latency_noise_pct"), row.get("latency_max_spread_pct")
    over = 100.0 * (p50 / limit - 1)
    if noise is not None and most is not None and noise > most and p50 * (1 - noise / 100.0) <= limit:
        return None, ("{}: p50 {:.4f} ms is {:.1f}% over {} {:.4f} ms, within this run's own noise of {:.1f}% (above the "
                      "target protocol's max_spread_pct {:g}%): the measurement cannot tell; re-run on a quieter machine "
                      "(nothing else running, clocks locked) or with more protocol rounds".format(
                          name, p50, over, what, limit, noise, most))
    return False, "{}: p50 {:.4f} ms is {:.1f}% over {} {:.4f} ms{}".format(
        name, p50, over, what, limit, " (run noise {:.1f}%)".format(noise) if noise is not None else "")


def evaluate(row: Dict[str, Any], th: Thresholds) -> List[Check]:
    """Every check that applies to ``row``, each with its value, threshold and a one-line message."""
    from .outputs import tolerance_message

    out: List[Check] = []

    def add(check, passed, value, threshold, message):
        out.append({"check": check, "passed": passed, "value": value, "threshold": threshold, "message": message})

    def accuracy(check, src, prefix):
        drop = src["ref_top1"] - src["top1"]
        add(check, drop <= th.max_acc_drop, drop, th.max_acc_drop,
            "{}top-1 accuracy dropped {:.2f} pt ({:.2f}% -> {:.2f}%), allowed {:g} pt".format(
                prefix, drop, src["ref_top1"], src["top1"], th.max_acc_drop))

    per = row.get("outputs")
    if not per and row.get("top1") is not None and row.get("ref_top1") is not None:
        accuracy("accuracy", row, "")
    if per:
        for name, s in per.items():
            sfx = "" if len(per) == 1 else ":" + name
            if s.get("top1") is not None and s.get("ref_top1") is not None:
                accuracy("accuracy" + sfx, s, name + ": " if sfx else "")
            if s.get("nonfinite"):
                add("finite" + sfx, False, s["nonfinite"], 0,
                    "{}: {} NaN/inf values where the reference is finite".format(name, s["nonfinite"]))
            if s.get("class_scores") and s.get("top1_agreement") is not None:
                v = s["top1_agreement"]
                add("agreement" + sfx, v >= th.min_agreement, v, th.min_agreement,
                    "{}: top-1 agreement with the reference {:.2f}%, required >= {:g}%".format(name, v, th.min_agreement))
            if s.get("cosine_mean") is not None:
                v = s["cosine_mean"]
                add("cosine" + sfx, v >= th.min_cosine, v, th.min_cosine,
                    "{}: mean cosine similarity {:.5f} (worst sample {:.5f}), required >= {:g}".format(
                        name, v, s.get("cosine_min", v), th.min_cosine))
            t = s.get("tolerance")
            if t:
                add("tolerance" + sfx, bool(t["passed"]), t.get("abs"), {"atol": t.get("atol"), "rtol": t.get("rtol"),
                                                                       "stat": t["stat"]}, tolerance_message(name, t))
    else:  # a row from an older report: one output, flat fields
        if row.get("top1_agreement") is not None:
            v = row["top1_agreement"]
            add("agreement", v >= th.min_agreement, v, th.min_agreement,
                "top-1 agreement with the reference {:.2f}%, required >= {:g}%".format(v, th.min_agreement))
        if row.get("cosine_mean") is not None:
            v = row["cosine_mean"]
            add("cosine", v >= th.min_cosine, v, th.min_cosine,
                "mean cosine similarity {:.5f}, required >= {:g}".format(v, th.min_cosine))
    m = row.get("metric")
    if m:
        add("metric", m["drop"] <= th.max_metric_drop, m["drop"], th.max_metric_drop,
            "metric {}: {:.4g} on the artifact against {:.4g} on the reference, a drop of {:.4g} (allowed {:g})".format(
                m["metric"], m["artifact"], m["reference"], m["drop"], th.max_metric_drop))
    if row.get("latency_p50_ms") is not None and row.get("predicted_ms") is not None:
        limit = th.max_latency_over_predicted * row["predicted_ms"]
        ok, msg = _latency("latency", row, limit, "{:g}x the predicted {:.4f} ms =".format(
            th.max_latency_over_predicted, row["predicted_ms"]))
        add("latency", ok, row["latency_p50_ms"], limit, msg)
    if th.max_latency_ms is not None and row.get("latency_p50_ms") is not None and \
            not str(row.get("stage", "")).startswith("reference"):
        ok, msg = _latency("latency budget", row, th.max_latency_ms, "the budget")
        add("budget", ok, row["latency_p50_ms"], th.max_latency_ms, msg)
    return out


def verdicts(row: Dict[str, Any], th: Thresholds) -> Dict[str, Optional[bool]]:
    """{check: True (pass) / False (fail) / None (inconclusive)}."""
    return {c["check"]: c["passed"] for c in evaluate(row, th)}


def status_of(passed: List[Optional[bool]]) -> str:
    return "FAIL" if any(p is False for p in passed) else ("INCONCLUSIVE" if any(p is None for p in passed) else "PASS")


def _fmt(v, spec="{:.3f}"):
    return "-" if v is None else (spec.format(v) if isinstance(v, float) else str(v))


def output_table(r: Dict[str, Any], th: Thresholds) -> List[str]:
    q = "p{:g}".format(100 * th.error_quantile)
    lines = ["| output | shape | max abs | mean abs | median abs | {} abs | max rel | cosine mean / min | top-1 agreement % | "
             "tolerance | status |".format(q), "|" + "---|" * 11]
    per = r["outputs"]
    for name, s in per.items():
        sfx = "" if len(per) == 1 else ":" + name
        mine = [p for k, p in r["checks"].items() if (k.endswith(sfx) if sfx else k in ("finite", "accuracy", "agreement",
                                                                                          "cosine", "tolerance"))]
        t = s.get("tolerance")
        tol = "-"
        if t:
            limits = " / ".join("{} {:g}".format(k, t[k]) for k in ("atol", "rtol") if t.get(k) is not None)
            tol = "{} {}{}".format(q if t["stat"] == "quantile" else t["stat"], limits, "" if t["passed"] else " (fails)")
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | **{}** |".format(
            name, "x".join(str(d) for d in s["shape"]), _fmt(s.get("max_abs"), "{:.4g}"), _fmt(s.get("mean_abs"), "{:.4g}"),
            _fmt(s.get("median_abs"), "{:.4g}"), _fmt(s.get("quantile_abs"), "{:.4g}"), _fmt(s.get("max_rel"), "{:.4g}"),
            _fmt(s.get("cosine_mean"), "{:.5f}"), _fmt(s.get("cosine_min"), "{:.5f}"), _fmt(s.get("top1_agreement"), "{:.2f}"),
            tol, status_of(mine)))
    return lines


def reasons_lines(report: Dict[str, Any]) -> List[str]:
    """The Markdown (and terminal) lines that say why a report is not PASS: every failing and every
    inconclusive check with its value and threshold."""
    lines: List[str] = []
    for kind, key in (("FAIL", "failures"), ("INCONCLUSIVE", "inconclusive")):
        items = [(r["stage"], c) for r in report["rows"] for c in r.get(key, [])]
        if items:
            lines += ["", "## Why {}".format(kind), ""] + ["- {}: **{}**: {}".format(s, c["check"], c["message"]) for s, c in items]
    return lines


def write_report(out_dir, rows: List[Dict[str, Any]], th: Thresholds, context: Dict[str, Any]) -> Dict[str, Any]:
    for r in rows:
        checks = evaluate(r, th)
        r["checks"] = {c["check"]: c["passed"] for c in checks}
        r["failures"] = [c for c in checks if c["passed"] is False]
        r["inconclusive"] = [c for c in checks if c["passed"] is None]
        r["status"] = status_of(list(r["checks"].values()))
    report = {"format": "edgenas.validation_report/1", "context": context, "thresholds": asdict(th), "rows": rows,
              "status": status_of([{"PASS": True, "FAIL": False}.get(r["status"]) for r in rows])}
    out = Path(out_dir)
    head = "| stage | size (KB) | p50 ms | p90 ms | predicted ms | top-1 % | agreement % | max abs err | cosine | status |"
    lines = ["# Validation report", "", "Target: {} | data: {} | images: {}".format(
        context.get("target"), context.get("data"), context.get("n")), "", head, "|" + "---|" * 10]
    for r in rows:
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | **{}** |".format(
            r["stage"], _fmt(r.get("size_kb"), "{:.1f}"), _fmt(r.get("latency_p50_ms"), "{:.4f}"),
            _fmt(r.get("latency_p90_ms"), "{:.4f}"), _fmt(r.get("predicted_ms"), "{:.4f}"), _fmt(r.get("top1"), "{:.2f}"),
            _fmt(r.get("top1_agreement"), "{:.2f}"), _fmt(r.get("max_abs_err"), "{:.4g}"), _fmt(r.get("cosine_mean"), "{:.5f}"),
            r["status"]))
    for r in rows:
        if r.get("outputs") and not str(r["stage"]).startswith("reference"):
            lines += ["", "Outputs of {} against the FP32 reference:".format(r["stage"]), ""] + output_table(r, th)
        if r.get("metric"):
            m = r["metric"]
            lines += ["", "Metric {} ({}): reference {:.4g}, artifact {:.4g}, drop {:.4g}.".format(
                m["metric"], r["stage"], m["reference"], m["artifact"], m["drop"])]
    lines += reasons_lines(report)
    for w in context.get("warnings") or []:
        lines += ["", "> Warning: {}".format(w)]
    tol = ", ".join("{} {}".format(k, ", ".join("{}{}".format(n + ":" if n else "", v) for n, v in getattr(th, k).items()))
                    for k in ("atol", "rtol", "error_stat") if getattr(th, k))
    lines += ["", "Thresholds: accuracy drop <= {max_acc_drop} pt, agreement >= {min_agreement}%, cosine >= "
              "{min_cosine}, latency <= {max_latency_over_predicted}x predicted".format(**asdict(th)) +
              (", latency <= {:g} ms".format(th.max_latency_ms) if th.max_latency_ms is not None else "") +
              (", metric drop <= {:g}".format(th.max_metric_drop) if any(r.get("metric") for r in rows) else "") +
              ("; tolerances: {}".format(tol) if tol else "") + ".", "", "Overall: **{}**".format(report["status"]), ""]
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", "\n".join(lines))
    return report
