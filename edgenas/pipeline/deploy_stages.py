"""Pipeline stages after training: prune to budget, export, INT8, check + engine, validate, report."""

import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError


def predicted_for(table: str, meta: Dict[str, Any]) -> float:
    """The table's prediction for a model checkpoint (with its precision plan, for a mixed table)."""
    from ..latency.predictor import Predictor
    from ..latency.table import LatencyTable
    from ..space import space_from_description
    from ..tasks.common import arch_with_plan

    lt = LatencyTable.load(table)
    space = space_from_description(lt.header["space"])
    return Predictor(lt, space).predict_arch(arch_with_plan(space, meta["arch"], meta.get("precision_plan"), "model"))[0]


def deploy_stages(p, model: str, table: str, search_table: Optional[str] = None, latency_ms: Optional[float] = None,
                  attempt: int = 1) -> Dict[str, Any]:
    """``table``: the target's own (pruning); ``search_table``: the one the search used (a mixed table
    predicts a mixed plan: validation and the report use it). ``attempt`` > 1 prunes again to ``latency_ms``
    (a budget corrected by what the board measured) into ``attempt-N/``, with stage names ``<stage>-N``."""
    from ..nas.train import load_checkpoint
    from ..tasks.compress import export, prune, quantize
    from ..tasks.deploy import build

    c, t = p.cfg, p.target
    o = p.out if attempt == 1 else p.out / "attempt-{}".format(attempt)
    lat = latency_ms or c.latency_ms

    def n(stage: str) -> str:
        return stage if attempt == 1 else "{}-{}".format(stage, attempt)

    _, meta = load_checkpoint(model)
    pred = predicted_for(search_table or table, meta)
    pruned = str(o / "05-prune" / "model_pruned.pt")

    def do_prune():
        if (pred <= lat and attempt == 1) or not c.prune:
            Path(pruned).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(model, pruned)
            return "skipped: predicted {:.4f} ms already within {:.4f} ms".format(pred, lat)
        r = prune(model, table, lat, pruned, measure=t.backend == "onnxruntime", finetune_epochs=c.finetune.epochs,
                  data=c.data, train_subset=c.finetune.train_subset, val_size=c.supernet.val_size, device=c.device,
                  progress=False)
        return "pruned from predicted {:.4f} ms to {:.4f} ms".format(pred, r.predicted_ms)

    p.stage(n("prune"), {"lat": lat, "on": c.prune}, [model, table], [pruned], do_prune)
    fp32 = str(o / "06-export" / "model.onnx")
    p.stage(n("export"), {}, [pruned], [fp32], lambda: export(pruned, fp32, inputs=min(500, c.validate.limit)) and None)
    artifact = fp32
    if t.precision == "int8":
        artifact = str(o / "07-int8" / "model.int8.onnx")
        q = c.quantize
        p.stage(n("quantize"), asdict(q), [fp32], [artifact],
                lambda: "{} flavour, {} layer(s) kept in float".format(*_quant(quantize(
                    fp32, artifact, t, q.method, q.calib_size, min_sqnr_db=q.min_sqnr_db,
                    calib_cache_out=str(Path(artifact).parent / "calib.json")))))
    if c.board:  # `board: NAME`: the engine build and the validation run there over SSH
        from .board_stages import board_deploy

        return _report(p, fp32, artifact, search_table or table, board_deploy(p, fp32, artifact, search_table or table), [])
    board_cmds: List[str] = []
    artifact_run = artifact
    if t.backend == "tensorrt":
        static_check(p, artifact, t)
        engine = str(o / "08-engine" / "model.engine")
        board_cmds.append("edgenas build {} --target {} --out model.engine   # or python tools/build_engine.py".format(
            Path(artifact).name, t.name))
        board_cmds.append("python tools/validate_on_device.py model.engine --target {} --inputs {}.inputs.npz "
                          "--ref-outputs {}.ref_outputs.npz --out report/".format(t.name, Path(fp32).name, Path(fp32).name))
        if _has_tensorrt():
            p.stage(n("build"), {"target": t.sha256}, [artifact], [engine], lambda: build(artifact, t, engine) and None)
            artifact_run = engine
        else:
            p.log("[{:<9}] skipped  TensorRT is not installed here; build and validate on the board:".format("build"))
            return _report(p, fp32, artifact, table, None, board_cmds)
    else:
        board_cmds.append("python tools/validate_on_device.py {} --target {} --inputs {}.inputs.npz --ref-outputs "
                          "{}.ref_outputs.npz --out report/".format(Path(artifact).name, t.name, Path(fp32).name, Path(fp32).name))
    vd = o / "09-validate"
    v = c.validate

    def do_validate():
        from ..tasks.validate import validate

        r = validate(artifact_run, fp32, t, vd, c.data, limit=v.limit, table=search_table or table, max_acc_drop=v.max_acc_drop,
                     min_agreement=v.min_agreement, min_cosine=v.min_cosine,
                     max_latency_over_predicted=v.max_latency_over_predicted)
        return r.status

    p.stage(n("validate"), asdict(v), [artifact, fp32, search_table or table], [str(vd / "report.json")], do_validate)
    return _report(p, fp32, artifact, search_table or table, str(vd / "report.json"), board_cmds)


def static_check(p, artifact: str, t, dynamic_batch=None, shapes=None) -> None:
    """The TensorRT static check as a pipeline step: a stage error naming the first problem, or a log line."""
    from ..tasks.deploy import check

    rep = check(artifact, t, dynamic_batch, shapes=shapes)
    if not rep.ok:
        raise EdgenasError("pipeline stage 'check' failed: {} fails the TensorRT {} check: {}".format(
            artifact, rep.tensorrt, rep.problems[0]))
    p.log("[{:<9}] ok       {} passes the TensorRT {} static check ({})".format(
        "check", Path(artifact).name, rep.tensorrt, rep.facts.get("qdq_flavour") or "float"))


def _quant(r):
    return r.flavour, len(r.kept_float)


def _has_tensorrt() -> bool:
    try:
        from ..backends.tensorrt.compat import import_tensorrt

        import_tensorrt()
        return True
    except EdgenasError:
        return False


def _report(p, fp32: str, artifact: str, table: str, validation, board_cmds: List[str]) -> Dict[str, Any]:
    from .report import write_pipeline_report

    return write_pipeline_report(p, fp32, artifact, table, validation, board_cmds)
