"""The own-model pipeline's report (``model:``): what shipped and why, the FP32 model against its deployed
artifact, every output's comparison, the reason of every failing check, the stages, next steps on the board;
in the terminal, report.md, a self-contained report.html and summary.json."""

import html
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..util.io import atomic_write_json, atomic_write_text


def _fmt(v, spec: str) -> str:
    return "-" if v is None else spec.format(v)


def _profile_lines(profile_json: Optional[str], top: int = 8) -> List[str]:
    """The slowest layers of each profiled model, where the profile names them."""
    if not profile_json or not Path(profile_json).is_file():
        return []
    try:
        res = json.loads(Path(profile_json).read_text())
    except ValueError:
        return []
    lines: List[str] = []
    for key, prof in (res or {}).items():
        layers = [r for r in (prof or {}).get("rows", []) if isinstance(r, dict) and isinstance(r.get("median_ms"), (int, float))]
        if not layers:
            continue
        e2e = (prof.get("e2e") or {}).get("median_ms")
        lines += ["", "Slowest layers of the {} model (in-context profile{}; edgenas profile for all):".format(
            key, ", {:.4f} ms end to end".format(e2e) if e2e else ""), "",
            "| layer | ops | precision | ms | share % |", "|---|---|---|---|---|"]
        for r in sorted(layers, key=lambda r: -r["median_ms"])[:top]:
            lines.append("| {} | {} | {} | {:.4f} | {} |".format(
                r.get("module") or (r.get("onnx_nodes") or ["?"])[0], "+".join(r.get("op_types") or [r.get("kernel_op") or "?"]),
                r.get("precision", "-"), r["median_ms"], _fmt(r.get("share_pct"), "{:.1f}")))
    return lines


def write_model_report(p, model: str, artifact: str, validation: Optional[str], board_cmds: List[str], warnings: List[str],
                       profile_json: Optional[str] = None) -> Dict[str, Any]:
    from ..validation.report import Thresholds, output_table, reasons_lines
    from .ship import choose

    c, o, t = p.cfg, p.out, p.target
    name = Path(model).stem
    side: Dict[str, Any] = {}
    if artifact != model and Path(artifact + ".json").is_file():
        try:
            side = json.loads(Path(artifact + ".json").read_text())
        except ValueError:
            side = {}
    precision = side.get("precision") or (t.precision if artifact != model else "fp32")
    if artifact != model and precision == "fp32":  # the measured precision plan kept FP32: that decision ships
        from .ship import _ship

        shipped = _ship(model, o / "10-deploy", "fp32", "quantize --plan auto kept FP32 ({}); no INT8 candidate was faster "
                        "within the output tolerance".format(side.get("reason") or "measured"))
    else:
        shipped = choose(validation, model, artifact, o / "10-deploy")
    rep: Dict[str, Any] = {}
    if validation and Path(validation).is_file():
        rep = json.loads(Path(validation).read_text())
    rows = []
    for r, stage in zip(rep.get("rows", []), ("FP32 ONNX", "deployed " + precision)):
        rows.append({"stage": stage, "size_kb": r.get("size_kb"), "p50_ms": r.get("latency_p50_ms"),
                     "p90_ms": r.get("latency_p90_ms"), "predicted_ms": r.get("predicted_ms"), "accuracy": r.get("top1"),
                     "agreement": r.get("top1_agreement"), "cosine": r.get("cosine_mean"), "status": r["status"]})
    head = "| stage | size KB | p50 ms | p90 ms | top-1 % | agreement % | worst output cosine | status |"
    table = [] if not rows else [head, "|" + "---|" * 8] + ["| {} | {} | {} | {} | {} | {} | {} | {} |".format(
        r["stage"], _fmt(r["size_kb"], "{:.1f}"), _fmt(r["p50_ms"], "{:.4f}"), _fmt(r["p90_ms"], "{:.4f}"),
        _fmt(r["accuracy"], "{:.2f}"), _fmt(r["agreement"], "{:.2f}"), _fmt(r["cosine"], "{:.5f}"), r["status"]) for r in rows]
    th = Thresholds(**{k: v for k, v in rep.get("thresholds", {}).items() if k in Thresholds.__dataclass_fields__}) \
        if rep else Thresholds()
    outputs: List[str] = []
    for r in rep.get("rows", []):
        if r.get("outputs") and not str(r["stage"]).startswith("reference"):
            outputs += ["", "Outputs of the deployed model against the FP32 model:", ""] + output_table(r, th)
        if r.get("metric"):
            m = r["metric"]
            outputs += ["", "Metric {}: FP32 {:.4g}, deployed {:.4g}, drop {:.4g} (allowed {:g}).".format(
                m["metric"], m["reference"], m["artifact"], m["drop"], th.max_metric_drop)]
    reasons = reasons_lines(rep) if rep else []
    status = rep.get("status") or "not run here (validate on the board: the commands below)"
    ship_line = "Shipped: `{}` ({}): {}".format(shipped["shipped"], shipped["precision"], shipped["reason"])
    budget = "budget {} ms".format(c.latency_ms) if c.latency_ms is not None else "no latency budget"
    stages = ["- {}: {:.1f} s{}".format(k, v["seconds"], " ({})".format(v["note"]) if v.get("note") else "")
              for k, v in p.state.items()]
    md = ["# edgenas pipeline: {} (your model)".format(name), "", "Model `{}`, target `{}`, {}, inputs: {}".format(
        model, t.name, budget, c.inputs or "random"), "", "Validation: **{}**".format(status), "", ship_line, ""] + table + \
        outputs + reasons
    for w in warnings:
        md += ["", "> Warning: {}".format(w)]
    md += _profile_lines(profile_json)
    md += ["", "## Stages", ""] + stages + [""]
    if board_cmds:
        md += ["## Next, on the board", ""] + ["    " + cmd for cmd in board_cmds] + [""]
    out = o / "report"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.md", "\n".join(md) + "\n")
    body, in_table = [], False
    for line in md:
        is_row = line.startswith("|")
        if is_row and set(line.replace("|", "").strip()) <= set("-"):
            continue  # a Markdown table's rule
        if is_row != in_table:
            body.append("<table>" if is_row else "</table>")
            in_table = is_row
        if is_row:
            body.append("<tr>{}</tr>".format("".join("<td>{}</td>".format(html.escape(x.strip().strip("*")))
                                                    for x in line.strip().strip("|").split("|"))))
        elif line:
            tag = "pre" if line.startswith("    ") else ("h2" if line.startswith("#") else "p")
            body.append("<{0}>{1}</{0}>".format(tag, html.escape(line.lstrip("#> ").replace("`", "").replace("**", ""))))
    body.append("</table>" if in_table else "")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>edgenas report</title><style>body{font-family:sans-serif;"
            "max-width:980px;margin:2em auto}table{border-collapse:collapse}td{border:1px solid #ccc;padding:4px 8px}"
            "</style></head><body>" + "".join(body) + "</body></html>")
    atomic_write_text(out / "report.html", page)
    overall = status if status in ("FAIL", "INCONCLUSIVE") else "PASS"
    summary = {"name": name, "status": overall, "validation": status, "rows": rows, "stages": p.state,
               "board_commands": board_cmds, "shipped": shipped, "warnings": warnings,
               "failures": [c for r in rep.get("rows", []) for c in r.get("failures", [])],
               "report": {"md": str(out / "report.md"), "html": str(out / "report.html")}}
    atomic_write_json(out / "summary.json", summary)
    p.log("")
    p.log("\n".join(table + outputs + reasons))
    for w in warnings:
        p.log("warning: " + w)
    p.log("\n" + ship_line.replace("`", ""))
    p.log("report: {} and {}".format(out / "report.md", out / "report.html"))
    if board_cmds:
        p.log("next, on the board (copy {}, 00-model/inputs.npz and 00-model/ref_outputs.npz):".format(Path(artifact).name))
        for cmd in board_cmds:
            p.log("  " + cmd)
    return summary
