"""Board-side code must import and run without torch, on Python 3.8 syntax."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

BOARD_MODULES = ["edgenas.errors", "edgenas.targets", "edgenas.runtime", "edgenas.backends.onnxruntime",
                 "edgenas.runtime.timing", "edgenas.runtime.device", "edgenas.latency.board", "edgenas.latency.table",
                 "edgenas.latency.calibrate", "edgenas.validation.run", "edgenas.data.preprocess", "edgenas.backends",
                 "edgenas.backends.tensorrt.runner", "edgenas.backends.tensorrt.cuda", "edgenas.backends.tensorrt.builder",
                 "edgenas.backends.tensorrt.compat", "edgenas.backends.tensorrt.engine_meta", "edgenas.backends.tensorrt.check",
                 "edgenas.backends.tensorrt.layer_profile",
                 "edgenas.agent.main", "edgenas.agent.jobs", "edgenas.agent.store", "edgenas.latency.model_profile",
                 "edgenas.latency.onnx_map", "edgenas.latency.model_report", "edgenas.latency.plan_auto"]
BOARD_FILES = ["edgenas/errors.py", "edgenas/_version.py", "edgenas/targets.py", "edgenas/util", "edgenas/runtime",
               "edgenas/backends/__init__.py", "edgenas/backends/onnxruntime", "edgenas/backends/tensorrt",
               "edgenas/latency/board.py", "edgenas/latency/manifest.py", "edgenas/latency/table.py", "edgenas/latency/calibrate.py", "edgenas/validation",
               "edgenas/data", "tools/profile_board.py", "tools/build_engine.py", "tools/validate_on_device.py", "edgenas/board",
               "edgenas/agent", "edgenas/latency/model_profile.py", "edgenas/latency/onnx_map.py",
               "edgenas/latency/model_report.py", "edgenas/latency/plan_auto.py"]
BLOCK_TORCH = "import sys; sys.modules['torch'] = None; sys.modules['onnx'] = None; "


def test_board_modules_import_with_torch_and_onnx_blocked():
    code = BLOCK_TORCH + "; ".join("import " + m for m in BOARD_MODULES) + "; print('ok')"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_profile_board_runs_with_torch_blocked(tiny_bundle, tmp_path):
    bundle, _ = tiny_bundle
    from .conftest import fast_target

    target = fast_target(tmp_path)
    out = tmp_path / "t.json"
    code = (BLOCK_TORCH + "import runpy; sys.argv = ['profile_board.py', {!r}, '--target', {!r}, '--out', {!r}, '--quiet'];"
            " runpy.run_path('tools/profile_board.py', run_name='__main__')").format(str(bundle), str(target), str(out))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert res.returncode == 0, res.stderr
    assert out.is_file() and "calibration" in res.stdout


def test_board_tools_help_without_torch():
    for tool in ("build_engine.py", "validate_on_device.py", "profile_board.py"):
        code = BLOCK_TORCH + "import runpy; sys.argv = ['t', '--help']; runpy.run_path('tools/{}', run_name='__main__')".format(tool)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
        assert res.returncode == 0 and "usage" in res.stdout, tool + res.stderr


def test_cli_help_works_without_torch():
    res = subprocess.run([sys.executable, "-c", BLOCK_TORCH + "from edgenas.cli.main import main; main(['--help'])"],
                         capture_output=True, text=True, cwd=str(ROOT))
    assert res.returncode == 0 and "profile" in res.stdout, res.stderr


def _vermin():
    local = Path(sys.executable).parent / "vermin"
    return str(local) if local.exists() else shutil.which("vermin")


@pytest.mark.skipif(_vermin() is None, reason="vermin not installed (pip install -e .[dev])")
def test_board_side_files_need_at_most_python_3_8():
    res = subprocess.run([_vermin(), "-t=3.8-", "--no-tips", "--violations", "--eval-annotations", *BOARD_FILES],
                         capture_output=True, text=True, cwd=str(ROOT))
    assert res.returncode == 0, res.stdout + res.stderr
