"""Issue 20: TensorRT / numpy / CUDA / Python version combinations that break a first run on a Jetson or an x86
box, the one-line error a raw NVIDIA exception becomes, and the doctor reporting versions before anything else."""

import numpy as np
import pytest

from edgenas.backends.tensorrt import versions as V
from edgenas.errors import EdgenasError

from .conftest import ROOT, run_cli


# --- version combinations and the one-line error -----------------------------------------------------------
def _v(**kw):
    base = {"python": "3.8.10", "numpy": "1.23.5", "tensorrt": "8.5.2.2", "tensorrt_wheel": None, "cuda_python": None,
            "cuda_binding": "cudart", "platform": "jetpack5"}
    return dict(base, **kw)


@pytest.mark.parametrize("kw,driver,want", [
    ({}, "11.4", []),
    ({"numpy": "1.24.4"}, "11.4", [("warn", "np.bool")]),
    ({"numpy": "1.24.4", "tensorrt": "8.5.3.1"}, None, []),
    ({"numpy": "2.0.2"}, None, [("warn", "np.bool"), ("fail", "predates numpy 2")]),
    ({"numpy": "2.2.6", "tensorrt": "10.3.0", "python": "3.10.12", "platform": "jetpack6"}, "12.6",
     [("warn", "against numpy 1.x")]),
    ({"tensorrt": "8.4.1"}, None, [("fail", "older than edgenas supports")]),
    ({"cuda_binding": "cuda-python"}, "11.4", [("fail", "cuda-python is not installed")]),
    ({"cuda_binding": "cuda-python", "cuda_python": "12.6.2.post1"}, "11.4", [("fail", "needs a CUDA 12 driver")]),
    ({"cuda_binding": "cuda-python", "cuda_python": "12.6.0", "platform": "jetpack6", "tensorrt": "10.3.0",
      "python": "3.10.12"}, "12.2", [("warn", "newer than the driver's CUDA 12.2")]),
    ({"tensorrt": "10.3.0", "tensorrt_wheel": "cu12", "platform": "x86", "python": "3.10.12"}, "11.8",
     [("fail", "tensorrt-cu12 wheel needs a CUDA 12 driver")]),
    ({"tensorrt": None, "python": "3.10.12"}, None, [("warn", "JetPack 5 ships TensorRT's Python bindings for Python 3.8")]),
])
def test_known_bad_combinations_are_named(kw, driver, want):
    got = V.combination_issues(_v(**kw), driver)
    assert [(i.status, ) for i in got] == [(w[0], ) for w in want], got
    for issue, (_, text) in zip(got, want):
        assert text in issue.detail and issue.fix


def test_pins_fix_what_the_rules_flag():
    """The fix each rule names, applied, clears the rule."""
    for kw in ({"numpy": "1.24.4"}, {"numpy": "2.0.2"}):
        issue = V.combination_issues(_v(**kw))[0]
        assert '"numpy>=1.20,<1.24"' in issue.fix  # JetPack 5's pin
    assert not V.combination_issues(_v(numpy="1.23.5"))
    jp6 = _v(numpy="2.1.0", tensorrt="10.3.0", python="3.10.12", platform="jetpack6")
    assert '"numpy>=1.21,<2"' in V.combination_issues(jp6)[0].fix
    assert not V.combination_issues(dict(jp6, numpy="1.26.4"))


def test_platform_from_the_l4t_release(tmp_path):
    f = tmp_path / "nv_tegra_release"
    f.write_text("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64\n")
    assert V.platform_kind(str(f)) == "jetpack5"
    f.write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64\n")
    assert V.platform_kind(str(f)) == "jetpack6"
    assert V.platform_kind(str(tmp_path / "absent")) == "x86"


def test_a_raw_nvidia_error_becomes_one_line_with_versions_and_fix():
    with pytest.raises(EdgenasError) as e:
        with V.trt_errors("loading engine m.engine"):
            raise AttributeError("module 'numpy' has no attribute 'bool'.\n`np.bool` was a deprecated alias")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("loading engine m.engine failed: AttributeError:")
    for part in ("TensorRT ", "numpy {}".format(np.__version__), "CUDA ", "Python ", 'fix: python3 -m pip install "numpy>=1.20,<1.24"'):
        assert part in msg, (part, msg)
    assert isinstance(e.value.__cause__, AttributeError)
    with pytest.raises(EdgenasError, match="^already one line$"):  # EdgenasErrors pass unchanged
        with V.trt_errors("x"):
            raise EdgenasError("already one line")
    err = V.environment_error(ImportError("A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.2"), "import")
    assert "TensorRT is built against numpy 1.x" in str(err) and V.NUMPY_PIN[V.platform_kind()] in str(err)


def test_readme_shows_the_install_lines_the_errors_name():
    readme = (ROOT / "README.md").read_text()
    for kind, line in V.INSTALL.items():
        assert line in readme, kind


def test_doctor_reports_versions_before_it_runs_anything():
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    res = run_cli("doctor", "--target", "t4-trt-int8", check=1)
    lines = res.stdout.splitlines()
    names = [line.split("]", 1)[1].split()[0] for line in lines if line.startswith("  [")]
    assert "versions" in names and names.index("versions") < names.index("tensorrt"), res.stdout
    assert "numpy {}".format(np.__version__) in res.stdout and "Traceback" not in res.stderr + res.stdout
