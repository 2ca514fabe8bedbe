"""Pipeline stages on a board over SSH (``board: NAME`` in the pipeline file): for TensorRT targets the engine
build, then for every target the validation run there. The host keeps the static check, the preprocessing
and the FP32 reference (ONNX Runtime); each stage is cached like the local ones, keyed by the board too."""

from dataclasses import asdict
from typing import Any, Dict

from ..errors import EdgenasError


def board_deploy(p, fp32: str, artifact: str, table: str) -> str:
    """Run the board stages for ``artifact`` (its FP32 source ``fp32``); the validation report's path."""
    from ..tasks.deploy import build
    from ..tasks.validate import validate

    c, t, o = p.cfg, p.target, p.out
    if t.backend not in ("onnxruntime", "tensorrt"):
        raise EdgenasError("pipeline: board '{}' runs ONNX Runtime or TensorRT targets, not {} ({}); drop 'board:' to run "
                           "it here".format(c.board, t.backend, t.name))
    where: Dict[str, Any] = {"board": c.board}
    run = artifact
    if t.backend == "tensorrt":
        engine = str(o / "08-engine" / "model.engine")

        def do_build():
            r = build(artifact, t, engine, board=c.board, progress=False, log=p.log)
            return "on board {}: TensorRT {}, {}, {:.1f} MB".format(c.board, r.meta["tensorrt"], r.meta["gpu"], r.size_mb)

        p.stage("build", dict(where, target=t.sha256), [artifact], [engine, engine + ".json"], do_build)
        run = engine
    vd = o / "09-validate"
    v = c.validate

    def do_validate():
        r = validate(run, fp32, t, vd, c.data, limit=v.limit, table=table, max_acc_drop=v.max_acc_drop,
                     min_agreement=v.min_agreement, min_cosine=v.min_cosine,
                     max_latency_over_predicted=v.max_latency_over_predicted, board=c.board, progress=False)
        return "{} on board {}".format(r.status, c.board)

    p.stage("validate", dict(asdict(v), **where), [run, fp32, table], [str(vd / "report.json")], do_validate)
    return str(vd / "report.json")
