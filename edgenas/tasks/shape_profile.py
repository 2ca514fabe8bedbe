"""Latency of your own model at the shapes you name (``edgenas profile model MODEL.onnx --shapes
x:MIN,OPT,MAX``): one interleaved run over min / opt / max, written as JSON and a Markdown table."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..util.checks import input_file, output_path
from .common import PathLike, as_target


@dataclass
class ShapeLatencyResult:
    json: Path
    markdown: Path
    rows: List[Dict[str, Any]]
    budget_at: str
    data: Dict[str, Any] = field(repr=False, default_factory=dict)

    def table(self) -> List[str]:
        from ..latency.shape_latency import table

        return table(self.data)


def opt_input_shapes(model: PathLike, shapes, which: str = "opt") -> List[str]:
    """``--input-shape`` values at the opt (or ``which``) shape of the first profile (what a fixed-shape stage runs at)."""
    from ..runtime import shapes as S

    profiles = S.resolve(shapes, model)
    return ["{}:{}".format(n, S.show(s)) for n, s in S.at(profiles[0], which).items()] if profiles else []


def profile_shapes(model: PathLike, target="cpu-x86-ort-fp32", shapes=None, which: Sequence[str] = ("min", "opt", "max"),
                   out: Optional[PathLike] = None, budget_s: float = 30.0, seed: int = 0,
                   budget_at: str = "opt") -> ShapeLatencyResult:
    """Time ``model`` at min / opt / max (``which``) of every profile in ``shapes``, interleaved; writes ``out``
    (default ``<model>.shapes.json``) and a Markdown table beside it. Latency budgets apply at ``budget_at``."""
    from ..latency.shape_latency import shape_latency, table
    from ..util.io import atomic_write_json, atomic_write_text

    input_file(model, "ONNX model")
    t = as_target(target)
    out = Path(out) if out else Path(str(Path(model).with_suffix("")) + ".shapes.json")
    output_path(out, "shape latency")
    data = shape_latency(str(model), t, shapes, which, budget_s, seed, budget_at)
    atomic_write_json(out, data)
    md = out.with_suffix(".md")
    atomic_write_text(md, "\n".join(["# Latency per shape: {}".format(Path(model).name), ""] + table(data)) + "\n")
    return ShapeLatencyResult(out, md, data["rows"], data["budget_at"], data)
