"""Committed results carry no absolute machine paths (relative paths or file names only), and the benchmark
tools that write them strip such paths themselves (edgenas/util/results.py)."""

import json
import re

from edgenas.util.results import portable, write_result_json

from .conftest import ROOT

MACHINE_PATH = re.compile(r"""(?<![\w.~-])/(?:work|tmp|root|home|Users|mnt|var|private|opt|scratch)/[^\s"'`)]*""")


def test_no_absolute_machine_paths_under_docs():
    bad = []
    for p in sorted((ROOT / "docs").rglob("*")):
        if p.is_file() and p.suffix in (".json", ".md", ".csv", ".txt", ".html"):
            for m in MACHINE_PATH.finditer(p.read_text(encoding="utf-8", errors="replace")):
                bad.append("{}: {}".format(p.relative_to(ROOT), m.group(0)))
    assert not bad, "\n".join(bad[:20])


def test_result_writer_makes_paths_relative_or_bare_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bench" / "r.json"
    res = {"artifact": str(tmp_path / "bench" / "int8" / "model.onnx"), "table": str(tmp_path / "tables" / "t.json"),
           "elsewhere": "/opt/data/pool_cpu.npz", "home": "~/x/plot.png", "rows": [{"p": str(tmp_path / "bench" / "a.png")}],
           "text": "a / b", "unit": "/s", "n": 3, "rel": "runs/x.onnx"}
    write_result_json(out, res)
    got = json.loads(out.read_text())
    assert got == {"artifact": "int8/model.onnx", "table": "tables/t.json", "elsewhere": "pool_cpu.npz", "home": "plot.png",
                   "rows": [{"p": "a.png"}], "text": "a / b", "unit": "/s", "n": 3, "rel": "runs/x.onnx"}
    assert portable(["/tmp/a/b.onnx"], [ROOT]) == ["b.onnx"]


def test_every_benchmark_writes_its_json_through_the_result_writer():
    offenders = []
    for p in sorted((ROOT / "tools").glob("bench_*.py")):
        text = p.read_text()
        if "--json" in text and re.search(r"atomic_write_json\((args\.json|out_path)", text):
            offenders.append(p.name)
    assert not offenders, "write results with edgenas.util.results.write_result_json: " + ", ".join(offenders)
