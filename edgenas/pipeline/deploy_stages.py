"""Pipeline stages after training: prune to budget, export, INT8, engine, validate, report."""

import json
import shutil
from pathlib import Path
from typing import Any, Dict, List

from ..errors import EdgenasError


def _predicted(table: str, sidecar_or_meta: Dict[str, Any]) -> float:
    from ..profile.predictor import Predictor
    from ..profile.table import LatencyTable
    from ..space import space_from_description

    space = space_from_description(sidecar_or_meta["space"])
    return Predictor(LatencyTable.load(table), space).predict_arch(space.from_string(sidecar_or_meta["arch"]))[0]


def deploy_stages(p, model: str, table: str, data: List[str]) -> Dict[str, Any]:
    from ..search.train import load_checkpoint

    c, t, o = p.cfg, p.target, p.out
    _, meta = load_checkpoint(model)
    pred = _predicted(table, meta)
    pruned = str(o / "05-prune" / "model_pruned.pt")

    def prune():
        if pred <= c.latency_ms or not c.prune:
            Path(pruned).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(model, pruned)
            return "skipped: predicted {:.4f} ms already within {:.4f} ms".format(pred, c.latency_ms)
        p._call("prune", model, "--table", table, "--latency-ms", c.latency_ms, *data, "--finetune-epochs", c.finetune.epochs,
                "--out", pruned, "--quiet", *([] if t.backend == "onnxruntime" else ["--no-measure"]))
        return "pruned from predicted {:.4f} ms".format(pred)

    p.stage("prune", {"lat": c.latency_ms, "on": c.prune}, [model, table], [pruned], prune)
    fp32 = str(o / "06-export" / "model.onnx")
    p.stage("export", {}, [pruned], [fp32], lambda: p._call("export", pruned, "--out", fp32, "--inputs", min(500, c.validate.limit)))
    artifact = fp32
    if t.precision == "int8":
        artifact = str(o / "07-int8" / "model.int8.onnx")
        q = c.quantize
        Path(artifact).parent.mkdir(parents=True, exist_ok=True)
        p.stage("quantize", q.__dict__, [fp32], [artifact],
                lambda: p._call("quantize", fp32, "--target", t.name, "--method", q.method, "--calib-size", q.calib_size,
                                "--min-sqnr-db", q.min_sqnr_db, "--calib-cache-out", str(Path(artifact).parent / "calib.json"),
                                "--out", artifact))
    board_cmds = []
    if t.backend == "tensorrt":
        engine = str(o / "08-engine" / "model.engine")
        board_cmds.append("python tools/build_engine.py {} --target {} --out model.engine".format(Path(artifact).name, t.name))
        board_cmds.append("python tools/validate_on_device.py model.engine --target {} --inputs {}.inputs.npz "
                          "--ref-outputs {}.ref_outputs.npz --out report/".format(t.name, Path(fp32).name, Path(fp32).name))
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            print("[{:<9}] skipped  TensorRT is not installed here; build on the board (commands at the end)".format("build"))
            return report(p, fp32, artifact, table, None, board_cmds)
        Path(engine).parent.mkdir(parents=True, exist_ok=True)
        p.stage("build", {"target": t.sha256}, [artifact], [engine], lambda: p._call("build", artifact, "--target", t.name, "--out", engine))
        artifact_run = engine
    else:
        artifact_run = artifact
        board_cmds.append("python tools/validate_on_device.py {} --target {} --inputs {}.inputs.npz --ref-outputs "
                          "{}.ref_outputs.npz --out report/".format(Path(artifact).name, t.name, Path(fp32).name, Path(fp32).name))
    vd = o / "09-validate"
    v = c.validate
    p.stage("validate", v.__dict__, [artifact, fp32, table], [str(vd / "report.json")],
            lambda: p._call("validate", artifact_run, "--ref", fp32, "--target", t.name, "--table", table, "--limit", v.limit,
                            "--max-acc-drop", v.max_acc_drop_pt, "--min-agreement", v.min_agreement_pct, "--min-cosine",
                            v.min_cosine, "--max-latency-over-predicted", v.max_latency_over_predicted, "--out", vd))
    return report(p, fp32, artifact, table, str(vd / "report.json"), board_cmds)


def report(p, fp32: str, artifact: str, table: str, validation: str, board_cmds: List[str]) -> Dict[str, Any]:
    from .report import write_pipeline_report

    return write_pipeline_report(p, fp32, artifact, table, validation, board_cmds)
