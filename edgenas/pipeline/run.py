"""Run the pipeline: each stage is one API call, cached by the hash of its typed options and input
files, so a re-run skips finished stages and a killed run resumes at the stage it was in."""

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

from ..errors import EdgenasError
from ..targets import find_data_file, load_target
from ..util.checks import output_dir
from ..util.io import atomic_write_json, sha256_file, sha256_json
from .config import PipelineConfig, config_dict, from_mapping, load_pipeline
from .state import load_state


@dataclass
class PipelineResult:
    name: str
    status: str
    out: Path
    rows: List[Dict[str, Any]] = field(default_factory=list)
    stages: Dict[str, Any] = field(default_factory=dict)
    board_commands: List[str] = field(default_factory=list)
    shipped: Dict[str, Any] = field(default_factory=dict)  # what ships and why (INT8 only where it measured faster)
    report_md: Optional[Path] = None
    report_html: Optional[Path] = None
    summary: Dict[str, Any] = field(repr=False, default_factory=dict)


class Pipeline:
    def __init__(self, cfg: PipelineConfig, log: Callable[[str], None] = print) -> None:
        self.cfg, self.log = cfg, log
        self.out = output_dir(cfg.out, "pipeline run folder")
        self.target = load_target(cfg.target)
        self.state_path = self.out / "pipeline.json"
        self.state: Dict[str, Any] = load_state(self.state_path, log)  # unusable: said so, and every stage runs again

    def stage(self, name: str, options: Dict[str, Any], inputs: List[str], outputs: List[str], fn: Callable[[], Optional[str]]):
        key = sha256_json({"stage": name, "options": options,
                           "inputs": {p: sha256_file(p) for p in inputs if p and Path(p).is_file()}})
        prev = self.state.get(name, {})
        if prev.get("key") == key and all(Path(p).exists() for p in outputs):
            self.log("[{:<9}] cached   {}".format(name, ", ".join(outputs) or prev.get("note", "")))
            return prev
        t0 = time.time()
        self.log("[{:<9}] running ...".format(name))
        sys.stdout.flush()
        try:
            note = fn()
        except EdgenasError as e:
            err = EdgenasError("pipeline stage '{}' failed: {}".format(name, e))
            err.detail = getattr(e, "detail", None)  # type: ignore[attr-defined]  # e.g. a metric hook's traceback
            raise err from e
        size = sum(Path(p).stat().st_size for p in outputs if Path(p).is_file())
        rec = {"key": key, "seconds": round(time.time() - t0, 1), "outputs": outputs, "note": note, "bytes": size}
        self.state[name] = rec
        atomic_write_json(self.state_path, self.state)
        self.log("[{:<9}] done in {:.1f} s -> {} ({:.1f} KB){}".format(name, rec["seconds"], ", ".join(outputs) or "-",
                                                                      size / 1024, "  " + note if note else ""))
        return rec

    def shipped_table(self, res: int) -> Optional[str]:
        shipped = find_data_file("latency_tables", "{}_{}_r{}.json".format(self.target.name, self.cfg.space, res))
        return str(shipped) if shipped else None

    def mixed_table(self, table: str, res: int) -> Optional[str]:
        """For a mixed-precision search: the shipped mixed table of this target, or one profiled here."""
        c, t = self.cfg, self.target
        mixed = c.precision == "mixed" or (c.precision == "auto" and t.backend == "onnxruntime" and t.precision == "int8")
        if not mixed:
            return None
        if c.precision == "auto" and t.backend != "onnxruntime":
            return None
        shipped = Path(table).with_name(Path(table).name.replace(".json", ".mixed.json"))
        if shipped.is_file():
            self.log("[{:<9}] reusing  {} (mixed precision)".format("table", shipped))
            return str(shipped)
        from ..tasks.profile import profile

        path = str(self.out / "01-table" / "table.mixed.json")
        self.stage("table-mix", {"target": t.sha256, "space": c.space, "res": res}, [], [path],
                   lambda: profile(t, path, space=c.space, resolution=res, progress=False, precision="mixed") and None)
        return path

    def checked(self, table: str, name: str) -> str:
        """The table to use on the board at hand: ``table`` itself, a rescaled copy or a re-profiled one (edgenas drift)."""
        from ..latency.drift import board_at_hand

        c, t = self.cfg, self.target
        if not c.drift_check:
            self.log("[{:<9}] skipped  drift_check is off: {} is trusted as it is".format(name, table))
            return table
        here, why = board_at_hand(t, c.board)
        if not here:
            self.log("[{:<9}] skipped  {}; check the table there with: edgenas drift {} --target {}".format(name, why, table, t.name))
            return table
        from ..runtime.device import stable_fingerprint
        from ..tasks.drift import check_table

        d = self.out / "01-table" / name

        def run_check():
            r = check_table(table, t, d, board=c.board, reprofile=c.reprofile, seed=c.seed, progress=False, log=None,
                            trust_when_noisy=True)  # the budget is judged on measured latency in any case
            for m in r.mismatches:
                self.log("[{:<9}] differs  {}".format(name, m))
            return "{} in {:.0f} s: {}".format(r.decision, r.seconds, r.reason)

        self.stage(name, {"table": table, "target": t.sha256, "board": c.board, "reprofile": c.reprofile,
                          "device": None if c.board else stable_fingerprint()}, [table], [str(d / "drift.json")], run_check)
        rec = json.loads((d / "drift.json").read_text())
        use = str(d / ("table.json" if rec.get("decision") == "reprofiled" else "table.checked.json"))
        self.log("[{:<9}] using    {}".format(name, use))
        return use

    def run(self) -> PipelineResult:
        from ..space import get_space
        from ..tasks.profile import profile
        from ..tasks.search import search
        from ..tasks.train import extract, finetune, train_supernet
        from .budget import enforce
        from .deploy_stages import deploy_stages

        c, t, o = self.cfg, self.target, self.out
        atomic_write_json(o / "options.json", config_dict(c))
        if c.model is not None:  # your own ONNX model: no search, the deployment stages on it
            from .model_stages import run_model

            summary = run_model(self)
            return PipelineResult(summary["name"], summary["status"], o, summary["rows"], summary["stages"],
                                  summary["board_commands"], summary.get("shipped", {}), Path(summary["report"]["md"]),
                                  Path(summary["report"]["html"]), summary)
        res = c.resolution or get_space(c.space).resolution
        table = c.table or self.shipped_table(res) or str(o / "01-table" / "table.json")
        if table == str(o / "01-table" / "table.json"):
            self.stage("table", {"target": t.sha256, "space": c.space, "res": res}, [], [table],
                       lambda: profile(t, table, space=c.space, resolution=res, progress=False) and None)
        mixed = c.search_table or self.mixed_table(table, res)
        if table != str(o / "01-table" / "table.json"):
            self.log("[{:<9}] reusing  {}".format("table", table))
            table = self.checked(table, "drift")
        search_table = (mixed if mixed is None or mixed.startswith(str(o)) else self.checked(mixed, "drift-mix")) or table
        sn = str(o / "02-supernet" / "supernet.pt")
        s = c.supernet
        self.stage("supernet", {"s": asdict(s), "data": c.data, "space": c.space, "res": c.resolution, "seed": c.seed}, [], [sn],
                   lambda: train_supernet(Path(sn).parent, c.space, c.data, c.resolution, epochs=s.epochs, batch_size=s.batch_size,
                                          lr=s.lr, train_subset=s.train_subset, val_size=s.val_size, seed=c.seed, device=c.device,
                                          schedule=s.schedule, log=self.log) and None)
        sd = o / "03-search"

        def run_search():
            r = search(t, search_table, sn, sd, latency_ms=c.latency_ms, val_size=s.val_size, seed=c.seed, device=c.device,
                       progress=False, **asdict(c.search))
            if r.result.get("best", {}).get("precision_plan"):
                plan = r.result["best"]["precision_plan"]
                return "{} evaluations; best {} at {:.4f} ms, {:.2f}%, {} of {} ops int8".format(
                    r.evaluations, r.arch, r.latency_ms, r.accuracy, plan.count("int8"), len(plan))
            return "{} evaluations; best {} at {:.4f} ms, {:.2f}%".format(r.evaluations, r.arch, r.latency_ms, r.accuracy)

        self.stage("search", {"s": asdict(c.search), "lat": c.latency_ms, "target": c.target}, [sn, search_table],
                   [str(sd / "result.json"), str(sd / "best.arch.json")], run_search)
        md = o / "04-model"
        f = c.finetune

        def extract_and_finetune():
            extract(sn, sd / "best.arch.json", md / "model.pt", c.data, val_size=s.val_size, device=c.device)
            r = finetune(md / "model.pt", md / "model_ft.pt", c.data, epochs=f.epochs, train_subset=f.train_subset,
                         val_size=s.val_size, test_limit=c.validate.limit, device=c.device, progress=False)
            return "test accuracy {:.2f}%".format(r.test_accuracy) if r.test_accuracy is not None else None

        self.stage("finetune", asdict(f), [sn, str(sd / "best.arch.json")], [str(md / "model_ft.pt")], extract_and_finetune)
        summary = deploy_stages(self, str(md / "model_ft.pt"), table, search_table)
        summary = enforce(self, summary, str(md / "model_ft.pt"), table, search_table)
        return PipelineResult(summary["name"], summary["status"], o, summary["rows"], summary["stages"],
                              summary["board_commands"], summary.get("shipped", {}), Path(summary["report"]["md"]),
                              Path(summary["report"]["html"]), summary)


def run_pipeline(config: Union[PipelineConfig, str, Path, Dict[str, Any]], log: Callable[[str], None] = print) -> PipelineResult:
    """Run every stage (cached, resumable) from a config object, a YAML path or a dict of YAML keys."""
    if isinstance(config, (str, Path)):
        config = load_pipeline(config)
    elif isinstance(config, dict):
        config = from_mapping(config, "pipeline")
    elif isinstance(config, PipelineConfig):
        config.validate_values()
    else:
        raise EdgenasError("run_pipeline takes a PipelineConfig, a YAML path or a dict, not {}".format(type(config).__name__))
    from ..util.lock import exclusive

    p = Pipeline(config, log)
    with exclusive(p.out / ".edgenas.lock", "pipeline run {}".format(p.out)):
        return p.run()
