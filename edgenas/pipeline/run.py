"""Run the pipeline: each stage is an edgenas command, cached by the hash of its options and inputs,
so a re-run skips finished stages and a killed run resumes at the stage it was in."""

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..cli.main import run_command
from ..errors import EdgenasError
from ..targets import load_target
from ..util.io import atomic_write_json, sha256_file, sha256_json
from .config import PipelineConfig, config_dict


class Pipeline:
    def __init__(self, cfg: PipelineConfig) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.target = load_target(cfg.target)
        self.state_path = self.out / "pipeline.json"
        self.state: Dict[str, Any] = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}
        self.files: Dict[str, str] = {}
        self.figures: Dict[str, Any] = {}

    def stage(self, name: str, options: Dict[str, Any], inputs: List[str], outputs: List[str], fn: Callable[[], Optional[str]]):
        key = sha256_json({"stage": name, "options": options,
                           "inputs": {p: sha256_file(p) for p in inputs if p and Path(p).is_file()}})
        prev = self.state.get(name, {})
        if prev.get("key") == key and all(Path(p).exists() for p in outputs):
            print("[{:<9}] cached   {}".format(name, ", ".join(outputs) or prev.get("note", "")))
            return prev
        t0 = time.time()
        print("[{:<9}] running ...".format(name))
        sys.stdout.flush()
        try:
            note = fn()
        except EdgenasError as e:
            raise EdgenasError("pipeline stage '{}' failed: {}".format(name, e))
        size = sum(Path(p).stat().st_size for p in outputs if Path(p).is_file())
        rec = {"key": key, "seconds": round(time.time() - t0, 1), "outputs": outputs, "note": note, "bytes": size}
        self.state[name] = rec
        atomic_write_json(self.state_path, self.state)
        print("[{:<9}] done in {:.1f} s -> {} ({:.1f} KB){}".format(name, rec["seconds"], ", ".join(outputs) or "-",
                                                                   size / 1024, "  " + note if note else ""))
        return rec

    def _call(self, *args) -> None:
        rc = run_command([str(a) for a in args])
        if rc not in (0, 3):
            raise EdgenasError("'edgenas {}' exited with {}".format(args[0], rc))

    def run(self) -> Dict[str, Any]:
        c, t, o = self.cfg, self.target, self.out
        o.mkdir(parents=True, exist_ok=True)
        atomic_write_json(o / "options.json", config_dict(c))
        from ..space import get_space

        res = c.resolution or get_space(c.space).resolution
        from ..targets import targets_dir

        shipped = targets_dir().parent / "latency_tables" / "{}_{}_r{}.json".format(t.name, c.space, res)
        if Path.cwd() in shipped.parents:
            shipped = shipped.relative_to(Path.cwd())
        table = c.table or (str(shipped) if shipped.is_file() else str(o / "01-table" / "table.json"))
        if table == str(o / "01-table" / "table.json"):
            self.stage("table", {"target": t.sha256, "space": c.space, "res": res}, [], [table],
                       lambda: self._call("profile", "--target", c.target, "--space", c.space, "--resolution", res,
                                          "--out", table, "--quiet"))
        else:
            print("[{:<9}] reusing  {}".format("table", table))
        search_table = c.search_table or table
        sn = str(o / "02-supernet" / "supernet.pt")
        s = c.supernet
        data = ["--data", c.data] if c.data else []
        self.stage("supernet", {"s": s.__dict__, "data": c.data, "space": c.space, "res": c.resolution, "seed": c.seed}, [], [sn],
                   lambda: self._call("supernet", "train", "--space", c.space, *data, *(["--resolution", c.resolution] if c.resolution else []),
                                      *(["--train-subset", s.train_subset] if s.train_subset else []), "--val-size", s.val_size,
                                      "--epochs", s.epochs, "--batch-size", s.batch_size, "--seed", c.seed, "--out", Path(sn).parent))
        sd = o / "03-search"
        self.stage("search", {"s": c.search.__dict__, "lat": c.latency_ms, "target": c.target}, [sn, search_table],
                   [str(sd / "result.json"), str(sd / "best.arch.json")],
                   lambda: self._call("search", "--target", c.target, "--table", search_table, "--supernet", sn, "--latency-ms",
                                      c.latency_ms, "--mode", c.search.mode, "--population", c.search.population, "--generations",
                                      c.search.generations, "--val-size", s.val_size, "--seed", c.seed, "--out", sd))
        md = o / "04-model"
        f = c.finetune

        def extract_and_finetune():
            self._call("extract", "--supernet", sn, "--arch", sd / "best.arch.json", *data, "--val-size", s.val_size,
                       "--out", md / "model.pt")
            self._call("finetune", md / "model.pt", *data, *(["--train-subset", f.train_subset] if f.train_subset else []),
                       "--val-size", s.val_size, "--epochs", f.epochs, "--test-limit", c.validate.limit, "--out", md / "model_ft.pt")

        self.stage("finetune", f.__dict__, [sn, str(sd / "best.arch.json")], [str(md / "model_ft.pt")], extract_and_finetune)
        model = str(md / "model_ft.pt")
        from .deploy_stages import deploy_stages

        return deploy_stages(self, model, table, data)
