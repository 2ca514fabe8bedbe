"""Issue 20: the board-side install lines and the cuda12 extra resolve for the Pythons and CPUs of the
boards (JetPack 5: Python 3.8 aarch64; JetPack 6: Python 3.10 aarch64; x86_64: 3.8 and 3.10), asked of
the package registry with pip's resolver for that platform (``pip install --dry-run --python-version
--platform``: nothing is installed). Without network those tests skip and say so; the metadata test
encodes what was verified and runs anywhere."""

import functools
import json
import os
import re
import subprocess
import sys
import tempfile

import pytest

from edgenas.backends.tensorrt.versions import INSTALL

from .conftest import ROOT

# (python, arch, glibc minor) per board family: Ubuntu 20.04 (JetPack 5) has glibc 2.31, 22.04 (JetPack 6) 2.35.
BOARDS = {"jetpack5": [("3.8", "aarch64", 31)], "jetpack6": [("3.10", "aarch64", 35)],
          "x86": [("3.8", "x86_64", 28), ("3.10", "x86_64", 28)]}
PROBE = "cuda-python==12.6.0"  # on PyPI for Python 3.10 aarch64, in no local wheel folder: resolves only online


def _extras():
    tomllib = pytest.importorskip("tomllib", reason="Python < 3.11 (tomllib)")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _line_requirements(kind):
    """The pip requirements of an install line, minus the project itself and TensorRT's own wheel (an sdist
    that downloads from NVIDIA's index at install time: not resolvable offline of it; on a Jetson it is apt)."""
    first = INSTALL[kind].split("pip install", 1)[1].split("&&", 1)[0]
    reqs = [r.strip('"') for r in re.findall(r'"[^"]+"|\S+', first)]
    return [r for r in reqs if not r.startswith("tensorrt")]


def _pip(python, arch, glibc, reqs):
    platforms = ["manylinux_2_{}_{}".format(g, arch) for g in range(17, glibc + 1)] + ["manylinux2014_" + arch]
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-",
           "--only-binary=:all:", "--target", os.path.join(tempfile.gettempdir(), "edgenas-pip-dry-run"),
           "--python-version", python]
    for p in platforms:
        cmd += ["--platform", p]
    return subprocess.run(cmd + list(reqs), capture_output=True, text=True, timeout=600)


@functools.lru_cache(maxsize=None)
def _registry_reachable() -> bool:
    """pip treats an unreachable index as an empty one ("No matching distribution"): ask for a release that
    certainly exists before calling a failure a failure."""
    return _pip("3.10", "aarch64", 35, [PROBE]).returncode == 0


def _resolve(python, arch, glibc, reqs):
    res = _pip(python, arch, glibc, reqs)
    if res.returncode and not _registry_reachable():
        pytest.skip("the package registry is not reachable (pip cannot resolve {} either)".format(PROBE))
    return res, ({x["metadata"]["name"].lower().replace("_", "-"): x["metadata"]["version"]
                  for x in json.loads(res.stdout)["install"]} if res.returncode == 0 else {})


def _v(s):
    return tuple(int(x) for x in re.findall(r"\d+", s)[:3])


def test_extras_pin_only_what_exists():
    """Verified with pip against PyPI (issue 20): no cuda-python release exists for CUDA 11.4 (the oldest for
    Python 3.8 is 11.5.0, for 3.10 11.6.0), so there is no cuda11 extra; JetPack 5 uses libcudart."""
    extras = _extras()
    assert "cuda11" not in extras
    for group in extras.values():
        for req in group:
            if req.startswith("cuda-python"):
                low = re.search(r">=\s*([\d.]+)", req)
                assert low and _v(low.group(1)) >= (11, 5) and "<" in req, req
    assert "numpy<2" in extras["tensorrt"]  # NVIDIA builds the bindings against numpy 1.x


@pytest.mark.parametrize("kind,python,arch,glibc", [(k, *b) for k, bs in BOARDS.items() for b in bs])
def test_install_lines_resolve_for_each_board(kind, python, arch, glibc):
    res, got = _resolve(python, arch, glibc, _line_requirements(kind))
    assert res.returncode == 0, res.stderr[-1500:]
    numpy = _v(got["numpy"])
    assert numpy < ((1, 24) if kind == "jetpack5" else (2,)), got  # np.bool for TensorRT 8.5.2; numpy 1.x bindings
    assert {"onnx", "onnxruntime", "pyyaml", "tqdm"} <= set(got), got


@pytest.mark.parametrize("python,arch", [("3.8", "x86_64"), ("3.10", "x86_64"), ("3.8", "aarch64"), ("3.10", "aarch64")])
def test_cuda12_extra_resolves(python, arch):
    res, got = _resolve(python, arch, 28, _extras()["cuda12"])
    assert res.returncode == 0, res.stderr[-1500:]
    assert (12, 2) <= _v(got["cuda-python"])[:2] < (12, 7), got


def test_the_old_cuda11_pin_has_nothing_to_install():
    res, _ = _resolve("3.8", "aarch64", 31, ["cuda-python>=11.4,<11.5"])
    assert res.returncode != 0 and "No matching distribution found for cuda-python" in res.stderr, res.stderr[-800:]
