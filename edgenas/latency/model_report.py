"""A model's per-layer profile as files: JSON (the data), Markdown (the table) and a PNG bar chart of every
layer coloured by precision (board side; matplotlib is optional, the plot is skipped without it)."""

from pathlib import Path
from typing import Any, Dict, List, Optional

from ..util.io import atomic_write_bytes, atomic_write_json, atomic_write_text

COLOURS = {"fp32": "#4C72B0", "fp16": "#55A868", "int8": "#DD8452", "q/dq": "#8C8C8C", "layout": "#C9C9C9"}


def _shape(s) -> str:
    return "x".join(str(d) for d in s) if s else "-"


def _nodes(row: Dict[str, Any], limit: int = 2) -> str:
    n = row["onnx_nodes"]
    if not n:
        return "(unmapped) " + row["kernels"][0]
    more = " +{}".format(len(n) - limit) if len(n) > limit else ""
    return ", ".join("`{}`".format(x) for x in n[:limit]) + more


def markdown(p: Dict[str, Any], title: Optional[str] = None) -> str:
    e2e = p["e2e"]
    ins = ", ".join("{} {}".format(k, _shape(v)) for k, v in p["model"]["inputs"].items())
    where = ("Target `{}` ({}, {} thread(s), graph optimization {}), ONNX Runtime {}; inputs {}.".format(
        p["target"], ", ".join(p["providers"]), p["threads"], p["graph_optimization"], p["software"]["onnxruntime"], ins)
        if p.get("backend") != "tensorrt" else "Target `{}` ({}), TensorRT {} on {}, engine `{}`; inputs {}.".format(
            p["target"], p["precision"], p["software"]["tensorrt"], p["device"]["gpu"], p["model"]["engine"], ins))
    lines = ["# Per-layer profile: {}".format(title or p["model"]["name"]), "", where, "",
             "| figure | value |", "| --- | --- |",
             "| end-to-end (plain session, interleaved) | {:.4f} ms (p10 {:.4f}, p90 {:.4f}, noise {:.1f}%) |".format(
                 e2e["median_ms"], e2e["p10_ms"], e2e["p90_ms"], e2e["noise_pct"]),
             "| sum of layers (profiled session, median per-run sum) | {:.4f} ms = {:.3f}x end-to-end |".format(
                 p["kernel_sum_ms"], p["sum_over_e2e"]),
             "| sum of the per-layer medians below | {:.4f} ms |".format(p["layer_median_sum_ms"]),
             "| profiler's own cost per kernel, measured on a probe and subtracted | {:.2f} us (raw sum {:.4f} ms = {:.3f}x) |".format(
                 p["profiler_overhead_us_per_kernel"], p["raw_kernel_sum_ms"], p["raw_sum_over_e2e"])
             if p["profiler_overhead_us_per_kernel"] is not None else
             "| profiler | TensorRT IProfiler (CUDA events per layer), nothing subtracted |",
             "| overhead (end-to-end - sum) | {:.4f} ms |".format(p["overhead_ms"]),
             "| time mapped to ONNX nodes | {:.1f}% |".format(100 * p["coverage"])]
    if p.get("module_coverage") is not None:
        lines.append("| time mapped to torch modules | {:.1f}% |".format(100 * p["module_coverage"]))
    lines += ["| layout conversions (attributed to their layers) | {:.1f}% |".format(100 * p["layout_share"]),
              "| by precision | {} |".format(", ".join("{} {:.3f} ms".format(k, v) for k, v in p["by_precision_ms"].items() if v)),
              "", "| # | ONNX node(s) | ops | torch module | kernel | in -> out | precision | median ms | p10-p90 ms | share % |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i, r in enumerate(p["rows"]):
        lines.append("| {} | {} | {} | {} | {} | {} -> {} | {} | {:.4f} | {:.4f}-{:.4f} | {:.1f} |".format(
            i, _nodes(r), "+".join(r["op_types"]) or "-", r["module"] or "-", r["kernel_op"] + (
                " (+{} layout)".format(len(r["glue_kernels"])) if r["glue_kernels"] else ""),
            _shape(r["input_shape"]), _shape(r["output_shape"]), r["precision"], r["median_ms"], r["p10_ms"], r["p90_ms"],
            r["share_pct"]))
    m = p["mapping"]
    if m.get("inspector_details") is False:
        lines += ["", "The engine carries no layer details (not built at DETAILED profiling verbosity): precision unknown, "
                      "layers mapped by their names; profile MODEL.onnx to build one that has them."]
    if m["unmapped_kernels"] or m["unmapped_nodes"]:
        lines += ["", "Unmapped kernels: {}; ONNX nodes without a kernel (not constant-folded): {}".format(
            ", ".join(m["unmapped_kernels"]) or "none", ", ".join(m["unmapped_nodes"][:20]) or "none")]
    return "\n".join(lines) + "\n"


def plot(p: Dict[str, Any], path, title: Optional[str] = None) -> Optional[Path]:
    """Horizontal bars, one per layer in execution order, coloured by precision; None without matplotlib."""
    try:
        import io

        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return None
    rows = p["rows"]
    h = max(3.0, 0.16 * len(rows) + 1.5)
    fig, ax = plt.subplots(figsize=(9, h))
    y = list(range(len(rows)))[::-1]
    ax.barh(y, [r["median_ms"] - r["layout_ms"] for r in rows], color=[COLOURS.get(r["precision"], "#999") for r in rows])
    ax.barh(y, [r["layout_ms"] for r in rows], left=[r["median_ms"] - r["layout_ms"] for r in rows],
            color=COLOURS["layout"], hatch="//")
    ax.set_yticks(y)
    ax.set_yticklabels([(r["module"] or (r["onnx_nodes"] or r["kernels"])[0])[-38:] for r in rows],
                       fontsize=max(4, min(8, int(600 / max(1, len(rows))))))
    seen = list(dict.fromkeys(r["precision"] for r in rows))
    if any(r["layout_ms"] for r in rows):
        seen.append("layout")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=COLOURS.get(k, "#999"), label=k) for k in seen], loc="lower right")
    ax.set_xlabel("median ms per layer (in context)")
    ax.set_title("{}: end-to-end {:.3f} ms, layers sum {:.3f}x".format(title or p["model"]["name"], p["e2e"]["median_ms"],
                                                                      p["sum_over_e2e"]), fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def write_profile(p: Dict[str, Any], out, title: Optional[str] = None) -> Dict[str, Optional[str]]:
    """``out``.json, ``out``.md and ``out``.png (the suffix of ``out`` is replaced); returns their paths."""
    base = Path(out)
    base = base.with_suffix("") if base.suffix.lower() in (".json", ".md", ".png") else base
    j, md, png = (Path(str(base) + s) for s in (".json", ".md", ".png"))
    atomic_write_json(j, p)
    atomic_write_text(md, markdown(p, title))
    drawn = plot(p, png, title)
    return {"json": str(j), "markdown": str(md), "plot": str(drawn) if drawn else None}


def summary(p: Dict[str, Any], top: int = 5) -> List[str]:
    """A few lines for the terminal: the figures and the slowest layers."""
    out = ["end-to-end {:.4f} ms; layers sum {:.4f} ms ({:.3f}x), overhead {:.4f} ms; {:.1f}% of the time mapped to ONNX "
           "nodes{}".format(p["e2e"]["median_ms"], p["kernel_sum_ms"], p["sum_over_e2e"], p["overhead_ms"],
                            100 * p["coverage"], "" if p.get("module_coverage") is None else
                            ", {:.1f}% to torch modules".format(100 * p["module_coverage"]))]
    for r in sorted(p["rows"], key=lambda r: -r["median_ms"])[:top]:
        out.append("  {:6.2f}%  {:.4f} ms  {:5s} {}".format(r["share_pct"], r["median_ms"], r["precision"],
                                                             r["module"] or (r["onnx_nodes"] or r["kernels"])[0]))
    return out
