import json

import numpy as np

from .conftest import fast_target, run_cli, space_opts


def test_help_and_targets():
    out = run_cli("--help", check=0).stdout
    for cmd in ("targets", "profile", "predict", "inspect"):
        assert cmd in out
    assert "cpu-x86-ort-int8" in run_cli("targets", "list", check=0).stdout
    assert "backend: tensorrt" in run_cli("targets", "show", "jetson-orin-nano-trt-int8", check=0).stdout


def test_user_error_is_one_line_exit_1():
    res = run_cli("targets", "show", "jetson-orin-nano", check=1)
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("edgenas: error: unknown target")
    assert "Traceback" not in res.stderr


def test_profile_predict_inspect_end_to_end(tmp_path, tiny_space):
    target = fast_target(tmp_path)
    table = tmp_path / "tiny.json"
    res = run_cli("profile", "--target", target, "--space", "mbv3-small", *space_opts(), "--networks", "5",
                  "--bundle", tmp_path / "bundle", "--out", table, "--quiet", check=0)
    assert "calibration" in res.stdout and table.is_file()
    arch = tiny_space.to_string(tiny_space.decode(tiny_space.sample(np.random.default_rng(0), 1)[0]))
    res = run_cli("predict", "--table", table, "--arch", arch, "--breakdown", check=0)
    assert "predicted" in res.stdout and "stem_" in res.stdout
    (tmp_path / "arch.json").write_text(json.dumps({"arch": arch}))
    assert "predicted" in run_cli("predict", "--table", table, "--arch", tmp_path / "arch.json", check=0).stdout
    res = run_cli("inspect", "table", table, check=0)
    assert "leave-one-out MAPE" in res.stdout and "entries" in res.stdout
    bad = run_cli("predict", "--table", table, "--arch", arch.replace("_k3_", "_k4_").replace("_k5_", "_k4_"), check=1)
    assert "4 is not a choice" in bad.stderr


def test_profile_plan_then_board(tmp_path):
    target = fast_target(tmp_path)
    res = run_cli("profile", "plan", "--target", target, "--space", "mbv3-small", *space_opts(), "--networks", "4",
                  "--bundle", tmp_path / "b", "--quiet", check=0)
    assert "tools/profile_board.py" in res.stdout
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["schema"] == "edgenas.ops_bundle/1" and len(manifest["networks"]) == 4
    res = run_cli("profile", "board", tmp_path / "b", "--target", target, "--out", tmp_path / "t.json", "--quiet", check=0)
    assert (tmp_path / "t.json").is_file()
    res = run_cli("profile", "--space", "mbv3-small", "--out", tmp_path / "x.json", check=1)
    assert "needs --target" in res.stderr
