"""The shipped targets and latency tables are package data: a wheel built from this tree, installed into a
fresh virtualenv without torch and run outside the checkout, lists every target and finds every table.

The fresh venv gets the wheel alone (``--no-deps``); its runtime dependencies (numpy, onnxruntime, PyYAML)
come from the test's own environment through a ``.pth`` line, with torch blocked, as on a board."""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

SHIPPED_TARGETS = sorted(p.stem for p in (ROOT / "edgenas" / "shipped" / "targets").glob("*.yaml"))
SHIPPED_TABLES = sorted(p.name for p in (ROOT / "edgenas" / "shipped" / "latency_tables").glob("*.json"))


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    d = tmp_path_factory.mktemp("wheel")
    src = d / "src"  # build from a copy: no build/ or egg-info left in the shared checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "edgenas", src / "edgenas", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    res = subprocess.run(pip + ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(d / "dist"), str(src)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    whl = next((d / "dist").glob("edgenas-*.whl"))
    venv = d / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    res = subprocess.run(pip + ["--python", str(py), "install", "-q", "--no-deps", "--no-index", str(whl)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    host = sysconfig.get_paths()["purelib"]  # numpy, onnxruntime, yaml; .pth files there are not processed
    (Path(purelib) / "zz_edgenas_test_deps.pth").write_text(
        host + "\nimport sys; sys.modules.update(dict.fromkeys(('torch', 'torch_pruning', 'torchvision'), None))\n")
    away = d / "elsewhere"  # a working directory with no targets/ or latency_tables/
    away.mkdir()
    return whl, venv, away


def _run(venv, cwd, *args):
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True, text=True, cwd=str(cwd))


def test_wheel_holds_the_shipped_targets_and_tables(wheel_venv):
    import zipfile

    names = zipfile.ZipFile(wheel_venv[0]).namelist()
    assert len(SHIPPED_TARGETS) >= 9 and len(SHIPPED_TABLES) >= 4
    for t in SHIPPED_TARGETS:
        assert "edgenas/shipped/targets/{}.yaml".format(t) in names
    for t in SHIPPED_TABLES:
        assert "edgenas/shipped/latency_tables/{}".format(t) in names


def test_installed_wheel_lists_targets_and_runs_doctor_outside_the_checkout(wheel_venv):
    _, venv, away = wheel_venv
    res = _run(venv, away, "python", "-c", "import edgenas, sys; print(edgenas.__file__); import torch")
    assert "site-packages" in res.stdout and str(ROOT) not in res.stdout and "ModuleNotFoundError" in res.stderr, res
    res = _run(venv, away, "edgenas", "targets", "list")
    assert res.returncode == 0, res.stderr
    listed = [line.split()[0] for line in res.stdout.splitlines()[1:]]
    assert listed == SHIPPED_TARGETS
    res = _run(venv, away, "edgenas", "doctor", "--target", "cpu-x86-ort-fp32")
    assert res.returncode == 0 and "READY" in res.stdout, res.stdout + res.stderr
    assert "unknown target" not in _run(venv, away, "edgenas", "targets", "show", "jetson-orin-nano-trt-int8").stderr


def test_installed_wheel_finds_every_shipped_table(wheel_venv):
    _, venv, away = wheel_venv
    code = ("import json, sys; from edgenas.targets import find_data_file; from edgenas.latency.table import LatencyTable\n"
            "out = {}\n"
            "for name in sys.argv[1:]:\n"
            "    p = find_data_file('latency_tables', name)\n"
            "    t = LatencyTable.load('latency_tables/' + name)\n"
            "    out[name] = [str(p), len(t.entries)]\n"
            "print(json.dumps(out))")
    res = _run(venv, away, "python", "-c", code, *SHIPPED_TABLES)
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)
    assert sorted(found) == SHIPPED_TABLES
    for name, (path, n) in found.items():
        assert "site-packages" in path and path.endswith("edgenas/shipped/latency_tables/" + name) and n > 0


def test_user_targets_in_the_working_directory_keep_working(wheel_venv):
    _, venv, away = wheel_venv
    user = away.parent / "user"
    (user / "targets").mkdir(parents=True)
    data = yaml.safe_load((ROOT / "targets" / "cpu-x86-ort-fp32.yaml").read_text())
    data.update(name="my-board", threads=2)
    (user / "targets" / "my-board.yaml").write_text(yaml.safe_dump(data))
    res = _run(venv, user, "edgenas", "targets", "list")
    assert res.returncode == 0, res.stderr
    listed = [line.split()[0] for line in res.stdout.splitlines()[1:]]
    assert listed == sorted(SHIPPED_TARGETS + ["my-board"])
    res = _run(venv, user, "edgenas", "targets", "show", "my-board")
    assert res.returncode == 0 and "threads: 2" in res.stdout, res.stderr
