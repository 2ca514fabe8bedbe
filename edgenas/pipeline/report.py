"""Pipeline report: a before/after table in the terminal, report.md and a self-contained report.html."""

import base64
import html
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..util.io import atomic_write_json, atomic_write_text


def _kind(key: str, default: str) -> str:
    if key.split("_", 1)[0] in ("quant", "dequant"):
        return "boundary"
    return "fp32" if key.startswith("fp32:") else default


def _all(space, meta, lt):
    """A plan for a model searched without one: every op at the table's own precision."""
    if not getattr(space, "precisions", None):
        return None
    n = len(space.base.ops(space.base.from_string(meta["arch"])))
    return [lt.header["precision"] if lt.header["precision"] in ("int8", "fp32") else "fp32"] * n


def _plots(out: Path, rows: List[Dict[str, Any]], breakdown: List, budget: float, default_kind: str) -> Dict[str, str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    paths = {}
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.22 * len(breakdown)))
    kinds = [_kind(k, default_kind) for k, _ in breakdown]
    colours = {"int8": "tab:blue", "fp32": "tab:orange", "boundary": "0.6"}
    ax.barh([k.replace("fp32:", "").split("@")[0] for k, _ in breakdown][::-1], [v for _, v in breakdown][::-1],
            color=[colours[k] for k in kinds][::-1])
    for kind, colour in colours.items():
        if kind in kinds:
            ax.bar([0], [0], color=colour, label=kind)
    ax.legend(fontsize=7, loc="lower right")
    ax.set(xlabel="table latency (ms)", title="per-layer latency and precision (table)")
    fig.tight_layout()
    fig.savefig(out / "breakdown.png", dpi=100)
    plt.close(fig)
    paths["breakdown"] = str(out / "breakdown.png")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    names = [r["stage"] for r in rows]
    a1.bar(names, [r.get("accuracy") or 0 for r in rows], color="tab:green")
    a1.set(ylabel="top-1 (%)", title="accuracy across stages", ylim=(min([r.get("accuracy") or 100 for r in rows]) - 5, 100))
    a2.bar(names, [r.get("p50_ms") or 0 for r in rows], color="tab:orange", label="measured p50")
    a2.scatter(names, [r.get("predicted_ms") or float("nan") for r in rows], c="k", zorder=3, label="table prediction")
    a2.axhline(budget, ls="--", c="r", lw=0.8, label="budget")
    a2.set(ylabel="ms", title="latency across stages")
    a2.legend(fontsize=7)
    for a in (a1, a2):
        a.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(out / "stages.png", dpi=100)
    plt.close(fig)
    paths["stages"] = str(out / "stages.png")
    pts = [(r["predicted_ms"], r["p50_ms"], r["stage"]) for r in rows if r.get("predicted_ms") and r.get("p50_ms")]
    if pts:
        fig, ax = plt.subplots(figsize=(4, 4))
        lim = [0, max(max(a, b) for a, b, _ in pts) * 1.2]
        ax.fill_between(lim, [v * 0.9 for v in lim], [v * 1.1 for v in lim], color="0.9")
        ax.plot(lim, lim, "k--", lw=0.8)
        for a, b, n in pts:
            ax.scatter([a], [b])
            ax.annotate(n, (a, b), fontsize=7)
        ax.set(xlabel="predicted (ms)", ylabel="measured p50 (ms)", title="table vs measured", xlim=lim, ylim=lim)
        fig.tight_layout()
        fig.savefig(out / "predicted_vs_measured.png", dpi=100)
        plt.close(fig)
        paths["predicted_vs_measured"] = str(out / "predicted_vs_measured.png")
    return paths


def write_pipeline_report(p, fp32: str, artifact: str, table: str, validation: Optional[str], board_cmds: List[str]) -> Dict[str, Any]:
    from ..latency.predictor import Predictor
    from ..latency.table import LatencyTable
    from ..nas.run import best_vs_evals
    from ..nas.train import load_checkpoint
    from ..space import space_from_description
    from ..tasks.common import arch_with_plan as with_plan
    from .ship import choose

    c, o = p.cfg, p.out
    result = json.loads((o / "03-search" / "result.json").read_text())
    _, meta = load_checkpoint(o / "04-model" / "model_ft.pt")
    lt = LatencyTable.load(table)
    space = space_from_description(lt.header["space"])  # a MixedSpace for a mixed table
    arch = with_plan(space, meta["arch"], meta.get("precision_plan") or _all(space, meta, lt), "the fine-tuned model")
    total, breakdown = Predictor(lt, space).predict_arch(arch)
    default_kind = lt.header["precision"]
    shipped = choose(validation, fp32, artifact, o / "10-deploy")
    rows = [{"stage": "supernet subnet", "size_kb": None, "p50_ms": None, "p90_ms": None, "predicted_ms": result["best"]["latency_ms"],
             "accuracy": result["best"]["accuracy"], "agreement": None, "status": "-"}]
    rows.append({"stage": "fine-tuned", "size_kb": None, "p50_ms": None, "p90_ms": None, "predicted_ms": total,
                 "accuracy": meta.get("test_accuracy"), "agreement": None, "status": "-"})
    reasons: List[str] = []
    if validation and Path(validation).is_file():
        from ..validation.report import reasons_lines

        rep = json.loads(Path(validation).read_text())
        reasons = reasons_lines(rep)  # every failing (or inconclusive) check, with its value and threshold
        for r, name in zip(rep["rows"], ("FP32 ONNX", "deployed " + p.target.precision)):
            rows.append({"stage": name, "size_kb": r.get("size_kb"), "p50_ms": r.get("latency_p50_ms"), "p90_ms": r.get("latency_p90_ms"),
                         "predicted_ms": r.get("predicted_ms"), "accuracy": r.get("top1"), "agreement": r.get("top1_agreement"),
                         "status": r["status"]})
    out = o / "report"
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(out, rows, breakdown, c.latency_ms, default_kind)
    found = {k: result["plots"][k] for k in ("pareto", "convergence") if result.get("plots", {}).get(k)}
    plots = dict(found, **plots)

    def fmt(v, spec):
        return "-" if v is None else spec.format(v)

    head = "| stage | size KB | p50 ms | p90 ms | predicted ms | top-1 % | agreement % | status |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["stage"], fmt(r["size_kb"], "{:.1f}"), fmt(r["p50_ms"], "{:.4f}"), fmt(r["p90_ms"], "{:.4f}"),
            fmt(r["predicted_ms"], "{:.4f}"), fmt(r["accuracy"], "{:.2f}"), fmt(r["agreement"], "{:.2f}"), r["status"]))
    stages = "\n".join("- {}: {:.1f} s{}".format(k, v["seconds"], " ({})".format(v["note"]) if v.get("note") else "")
                       for k, v in p.state.items())
    plan = arch.get("precision")
    plan_line = "Precision plan: {} (int8 on {} of {} ops; table-predicted {:.4f} ms)".format(
        " ".join("8" if x == "int8" else "f" for x in plan), plan.count("int8"), len(plan), total) if plan else ""
    evals = result.get("evaluations") or (result["curve"][-1][0] if result.get("curve") else 0)
    curve = best_vs_evals(result.get("curve", []), evals)
    search_line = "Search: best feasible accuracy vs evaluations: {}{}".format(
        ", ".join("{}: {:.1f}%".format(n, a) for n, a in curve) or "-",
        " (stopped: {})".format(result["stop_reason"]) if result.get("stop_reason") else "")
    ship_line = "Shipped: `{}` ({}): {}".format(shipped["shipped"], shipped["precision"], shipped["reason"])
    md = ["# edgenas pipeline: {}".format(result["name"]), "", "Target `{}`, budget {} ms, arch `{}`".format(
        p.target.name, c.latency_ms, meta["arch"]), "", ship_line, ""] + ([plan_line, ""] if plan else []) + [search_line, ""] + lines + \
        reasons + [
        "", "## Stages", "", stages, "", "## Next, on the board", ""]
    md += ["    " + cmd for cmd in board_cmds] + [""]
    md += ["![{}]({})".format(k, Path(v).name if Path(v).parent == out else v) for k, v in plots.items()]
    atomic_write_text(out / "report.md", "\n".join(md) + "\n")
    imgs = "".join('<figure><img alt="{0}" src="data:image/png;base64,{1}"><figcaption>{0}</figcaption></figure>'.format(
        k, base64.b64encode(Path(v).read_bytes()).decode()) for k, v in plots.items() if Path(v).is_file())
    table_html = "<table><tr>{}</tr>{}</table>".format(
        "".join("<th>{}</th>".format(h.strip()) for h in head.strip("|").split("|")),
        "".join("<tr>{}</tr>".format("".join("<td>{}</td>".format(html.escape(x.strip())) for x in line.strip("|").split("|")))
                for line in lines[2:]))
    if reasons:
        table_html += "".join("<h3>{}</h3>".format(html.escape(x[3:])) if x.startswith("## ") else
                              "<p>{}</p>".format(html.escape(x.replace("**", ""))) for x in reasons if x)
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>edgenas report</title><style>body{{font-family:sans-serif;"
            "max-width:980px;margin:2em auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}"
            "img{{max-width:100%}}figure{{margin:1em 0}}pre{{white-space:pre-wrap}}</style></head><body><h1>edgenas pipeline: {}</h1><p>Target <b>{}</b>, "
            "budget {} ms, arch <code>{}</code></p><p><b>{}</b></p><p>{}</p><p>{}</p>{}<h2>Stages</h2><pre>{}</pre><h2>Next, on the board</h2>"
            "<pre>{}</pre>{}</body></html>").format(html.escape(result["name"]), p.target.name, c.latency_ms, html.escape(meta["arch"]),
                                                    html.escape(ship_line.replace("`", "")), html.escape(plan_line),
                                                    html.escape(search_line), table_html,
                                                    html.escape(stages), html.escape("\n".join(board_cmds)), imgs)
    atomic_write_text(out / "report.html", page)
    status = "FAIL" if any(r["status"] == "FAIL" for r in rows) else "PASS"
    summary = {"name": result["name"], "status": status, "rows": rows, "stages": p.state, "board_commands": board_cmds,
               "shipped": shipped, "precision_plan": plan, "search_curve": [list(x) for x in curve],
               "report": {"md": str(out / "report.md"), "html": str(out / "report.html")}}
    atomic_write_json(out / "summary.json", summary)
    p.log("")
    p.log("\n".join(lines + reasons))
    p.log("\n" + ship_line.replace("`", ""))
    if plan:
        p.log(plan_line)
    p.log(search_line)
    p.log("report: {} and {}".format(out / "report.md", out / "report.html"))
    if board_cmds:
        p.log("next, on the board (copy {} and its .inputs.npz / .ref_outputs.npz):".format(Path(artifact).name))
        for cmd in board_cmds:
            p.log("  " + cmd)
    return summary
