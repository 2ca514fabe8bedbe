"""The latency budget is judged on what the board measured, never on the table alone: when the shipped
artifact measures over budget, prune again to a budget corrected by the measurement and re-measure; when
that cannot reach it, end FAIL with the budget, the measurement and the fastest candidate measured."""

from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.io import atomic_write_json, atomic_write_text

MAX_ATTEMPTS = 3
MARGIN = 0.97  # aim a little under the budget: the board's own noise is a few per cent


def shipped_ms(summary: Dict[str, Any]) -> Optional[float]:
    """The measured p50 of what ships (None where nothing was measured here, e.g. TensorRT without a board)."""
    s = summary.get("shipped") or {}
    key = "fp32_ms" if s.get("precision") == "fp32" else "int8_ms"
    if s.get(key) is not None:
        return float(s[key])
    rows = [r for r in summary.get("rows", []) if r.get("p50_ms") is not None]
    if not rows:
        return None
    want = "FP32 ONNX" if s.get("precision") == "fp32" else None
    row = next((r for r in rows if r["stage"] == want), rows[-1])
    return float(row["p50_ms"])


def enforce(p, summary: Dict[str, Any], model: str, table: str, search_table: Optional[str]) -> Dict[str, Any]:
    """Re-prune while the shipped artifact measures over budget; then record the verdict in the summary and report."""
    from .deploy_stages import deploy_stages

    c = p.cfg
    budget, lat = c.latency_ms, c.latency_ms
    tried: List[Dict[str, Any]] = []
    stopped = ""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        ms = shipped_ms(summary)
        if ms is None:
            break
        tried.append({"attempt": attempt, "pruned_to_ms": round(lat, 5), "measured_ms": ms,
                      "shipped": summary["shipped"]["shipped"], "precision": summary["shipped"]["precision"]})
        if ms <= budget or attempt == MAX_ATTEMPTS:
            break
        if not c.prune:
            stopped = "pruning is off (prune: false)"
            break
        lat = lat * budget / ms * MARGIN
        p.log("[{:<9}] over     shipped model measured {:.4f} ms against the {:.4f} ms budget: pruning again to {:.4f} ms "
              "(attempt {} of {})".format("budget", ms, budget, lat, attempt + 1, MAX_ATTEMPTS))
        try:
            summary = deploy_stages(p, model, table, search_table, latency_ms=lat, attempt=attempt + 1)
        except EdgenasError as e:
            stopped = str(e)
            break
    return _record(p, summary, verdict(budget, tried, stopped))


def verdict(budget: float, tried: List[Dict[str, Any]], stopped: str = "") -> Dict[str, Any]:
    if not tried:
        return {"status": "NOT MEASURED", "budget_ms": budget, "attempts": [],
                "message": "Budget: not measured here: validate on the board before trusting the {:.4f} ms budget".format(budget)}
    last, best = tried[-1], min(tried, key=lambda t: t["measured_ms"])
    if last["measured_ms"] <= budget:
        msg = "Budget: PASS: the shipped model measured {:.4f} ms against the {:.4f} ms budget{}".format(
            last["measured_ms"], budget, " after {} pruning attempts".format(len(tried)) if len(tried) > 1 else "")
        return {"status": "PASS", "budget_ms": budget, "measured_ms": last["measured_ms"], "attempts": tried, "message": msg}
    msg = ("Budget: FAIL: the shipped model measured {:.4f} ms against the {:.4f} ms budget ({:.2f}x over); the fastest "
           "candidate measured {:.4f} ms ({}, attempt {}){}. Raise the budget to at least {:.4f} ms, or check the table on this "
           "board (edgenas drift TABLE --target T) and run again").format(
        last["measured_ms"], budget, last["measured_ms"] / budget, best["measured_ms"], best["precision"], best["attempt"],
        "; stopped: " + stopped if stopped else "", best["measured_ms"])
    return {"status": "FAIL", "budget_ms": budget, "measured_ms": last["measured_ms"], "fastest_ms": best["measured_ms"],
            "attempts": tried, "stopped": stopped or None, "message": msg}


def _record(p, summary: Dict[str, Any], v: Dict[str, Any]) -> Dict[str, Any]:
    summary["budget"] = v
    if v["status"] == "FAIL":
        summary["status"] = "FAIL"
    p.log(v["message"])
    report = summary.get("report") or {}
    md, page = Path(report.get("md", "")), Path(report.get("html", ""))
    if md.is_file():
        text = md.read_text()
        atomic_write_text(md, text.replace("\n\n", "\n\n**{}**\n\n".format(v["message"]), 1))
    if page.is_file():
        import html

        atomic_write_text(page, page.read_text().replace("</h1>", "</h1><p><b>{}</b></p>".format(html.escape(v["message"])), 1))
    atomic_write_json(p.out / "report" / "summary.json", summary)
    return summary
