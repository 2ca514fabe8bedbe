"""The Python API: the example script end to end, and user errors as the CLI's one-line messages."""

import subprocess
import sys

import pytest

import edgenas

from .conftest import ROOT, run_cli
from .test_data import fashion


@fashion
def test_python_example_runs_profile_search_quantize_validate(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "python_api.py"), "--out", str(tmp_path / "run"), "--quick"],
                         capture_output=True, text=True, cwd=str(ROOT), timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    for word in ("table", "supernet", "search", "validate   PASS"):
        assert word in res.stdout
    assert (tmp_path / "run" / "model.int8.onnx.json").is_file() and (tmp_path / "run" / "report" / "report.md").is_file()


def test_api_raises_the_same_one_line_errors_as_the_cli(tmp_path):
    with pytest.raises(edgenas.EdgenasError) as e:
        edgenas.profile("jetson-orin-nano", tmp_path / "t.json")
    cli = run_cli("profile", "--target", "jetson-orin-nano", "--out", tmp_path / "t.json", check=1)
    assert str(e.value) in cli.stderr and "\n" not in str(e.value)
    with pytest.raises(edgenas.EdgenasError, match=r"lr must be a finite number in \(0, 10\], got nan"):
        edgenas.train_supernet(tmp_path / "sn", lr=float("nan"))
    with pytest.raises(edgenas.EdgenasError, match="budget must be an integer"):
        edgenas.search("cpu-x86-ort-fp32", "t.json", "s.pt", tmp_path / "s", latency_ms=1.0, budget=0)


def test_results_are_typed_objects():
    assert edgenas.ProfileResult.__dataclass_fields__["table"].type
    assert {"status", "report", "rows"} <= set(edgenas.ValidationResult.__dataclass_fields__)
