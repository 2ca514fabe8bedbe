"""Validation report: one row per artifact, PASS/FAIL against thresholds, as JSON and Markdown."""

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List

from ..util.io import atomic_write_json, atomic_write_text


@dataclass
class Thresholds:
    max_acc_drop_pt: float = 1.0
    min_agreement_pct: float = 97.0
    min_cosine: float = 0.99
    max_latency_over_predicted: float = 1.10


def verdicts(row: Dict[str, Any], th: Thresholds) -> Dict[str, bool]:
    out = {}
    if row.get("top1") is not None and row.get("ref_top1") is not None:
        out["accuracy"] = row["ref_top1"] - row["top1"] <= th.max_acc_drop_pt
    if row.get("top1_agreement") is not None:
        out["agreement"] = row["top1_agreement"] >= th.min_agreement_pct
    if row.get("cosine_mean") is not None:
        out["cosine"] = row["cosine_mean"] >= th.min_cosine
    if row.get("latency_p50_ms") is not None and row.get("predicted_ms") is not None:
        out["latency"] = row["latency_p50_ms"] <= th.max_latency_over_predicted * row["predicted_ms"]
    return out


def _fmt(v, spec="{:.3f}"):
    return "-" if v is None else (spec.format(v) if isinstance(v, float) else str(v))


def write_report(out_dir, rows: List[Dict[str, Any]], th: Thresholds, context: Dict[str, Any]) -> Dict[str, Any]:
    for r in rows:
        r["checks"] = verdicts(r, th)
        r["status"] = "PASS" if all(r["checks"].values()) else "FAIL"
    report = {"format": "edgenas.validation_report/1", "context": context, "thresholds": asdict(th), "rows": rows,
              "status": "PASS" if all(r["status"] == "PASS" for r in rows) else "FAIL"}
    out = Path(out_dir)
    atomic_write_json(out / "report.json", report)
    head = "| stage | size (KB) | p50 ms | p90 ms | predicted ms | top-1 % | agreement % | max abs err | cosine | status |"
    lines = ["# Validation report", "", "Target: {} | data: {} | images: {}".format(
        context.get("target"), context.get("data"), context.get("n")), "", head, "|" + "---|" * 10]
    for r in rows:
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | **{}** |".format(
            r["stage"], _fmt(r.get("size_kb"), "{:.1f}"), _fmt(r.get("latency_p50_ms"), "{:.4f}"),
            _fmt(r.get("latency_p90_ms"), "{:.4f}"), _fmt(r.get("predicted_ms"), "{:.4f}"), _fmt(r.get("top1"), "{:.2f}"),
            _fmt(r.get("top1_agreement"), "{:.2f}"), _fmt(r.get("max_abs_err"), "{:.4g}"), _fmt(r.get("cosine_mean"), "{:.5f}"),
            r["status"]))
    lines += ["", "Thresholds: accuracy drop <= {max_acc_drop_pt} pt, agreement >= {min_agreement_pct}%, cosine >= "
              "{min_cosine}, latency <= {max_latency_over_predicted}x predicted.".format(**asdict(th)), "",
              "Overall: **{}**".format(report["status"]), ""]
    atomic_write_text(out / "report.md", "\n".join(lines))
    return report
