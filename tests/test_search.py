"""Supernet, extraction and the search commands on a tiny space and a Fashion-MNIST subset."""

import json

import numpy as np
import pytest
import torch

from edgenas.errors import EdgenasError
from edgenas.space import get_space
from edgenas.nas.supernet import Supernet, recalibrate_bn

from .conftest import fast_target, run_cli
from .test_data import fashion

TINY = {"depths": [1, 2], "kernels": [3, 5], "expands": [3], "acts": ["re"], "se": [False, True], "head_channels": 32}


def _opts():
    return ["--space-opt={}={}".format(k, json.dumps(v)) for k, v in TINY.items()]


def test_extracted_subnet_matches_supernet():
    space = get_space("mbv3-small", resolution=16, **TINY)
    torch.manual_seed(0)
    net = Supernet(space)
    arch = space.decode(space.sample(np.random.default_rng(2), 1)[0])
    x = torch.randn(32, 1, 16, 16)
    recalibrate_bn(net, lambda xb: net(xb, arch), [x[:16], x[16:]])
    with torch.no_grad():
        want = net(x, arch)
        got = net.extract(arch)(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("search")
    res = run_cli("supernet", "train", "--space", "mbv3-small", *_opts(), "--train-subset", "256", "--val-size", "128",
                  "--epochs", "1", "--batch-size", "64", "--threads", "1", "--out", d / "sn", "--quiet")
    if res.returncode == 1 and "Fashion-MNIST" in res.stderr:
        pytest.skip("Fashion-MNIST not installed")
    assert res.returncode == 0, res.stderr
    target = fast_target(d)
    res = run_cli("profile", "--target", target, "--space", "mbv3-small", *_opts(), "--networks", "4",
                  "--bundle", d / "bundle", "--out", d / "table.json", "--quiet", check=0)
    return d, target


@fashion
def test_search_extract_finetune_end_to_end(trained):
    d, target = trained
    out = d / "run"
    args = ["search", "--target", target, "--table", d / "table.json", "--supernet", d / "sn" / "supernet.pt",
            "--val-size", "128", "--population", "6", "--generations", "2", "--seed", "0", "--out", out, "--quiet"]
    big = float(json.loads((d / "table.json").read_text())["header"]["calibration_networks"][1]["measured_ms"])
    res = run_cli(*args, "--latency-ms", str(big), check=0)
    assert "best" in res.stdout
    result = json.loads((out / "result.json").read_text())
    assert result["best"]["latency_ms"] <= big and result["pareto_front"] and result["evaluations"] <= 6 * 3
    assert result["name"].startswith("cpu-x86-ort-fp32_lat@")
    for f in ("best.arch.json", "history.csv", "options.json", "pareto.png", "convergence.png"):
        assert (out / f).is_file(), f
    again = run_cli(*args, "--latency-ms", str(big), check=0)  # finished run: resumes, same answer
    assert json.loads((out / "result.json").read_text())["best"] == result["best"]
    assert again.returncode == 0
    res = run_cli("extract", "--supernet", d / "sn" / "supernet.pt", "--arch", out / "best.arch.json", "--val-size", "128",
                  "--out", d / "model.pt", check=0)
    assert "inherited weights" in res.stdout
    res = run_cli("finetune", d / "model.pt", "--train-subset", "256", "--val-size", "128", "--epochs", "1",
                  "--test-limit", "200", "--out", d / "ft.pt", "--quiet", check=0)
    assert "test acc" in res.stdout


@fashion
def test_impossible_budget_names_the_fastest_latency(trained):
    d, target = trained
    res = run_cli("search", "--target", target, "--table", d / "table.json", "--supernet", d / "sn" / "supernet.pt",
                  "--latency-ms", "0.0001", "--out", d / "x", check=1)
    assert "no architecture in space 'mbv3-small' meets --latency-ms 0.0001: the fastest reaches" in res.stderr


@fashion
def test_table_for_another_space_and_corrupt_checkpoint(trained, tmp_path):
    d, target = trained
    res = run_cli("search", "--target", "cpu-x86-ort-fp32", "--table", "latency_tables/cpu-x86-ort-fp32_mbv3-small_r28.json",
                  "--supernet", d / "sn" / "supernet.pt", "--latency-ms", "1", "--out", tmp_path / "x", check=1)
    assert "profiled for space 'mbv3-small'" in res.stderr
    bad = tmp_path / "bad.pt"
    bad.write_bytes((d / "sn" / "supernet.pt").read_bytes()[:2000])
    res = run_cli("search", "--target", target, "--table", d / "table.json", "--supernet", bad, "--latency-ms", "1",
                  "--out", tmp_path / "y", check=1)
    assert "corrupt" in res.stderr


def test_bad_checkpoint_is_refused(tmp_path):
    from edgenas.nas.train import load_checkpoint

    p = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(2)}, p)
    with pytest.raises(EdgenasError, match="not an edgenas checkpoint"):
        load_checkpoint(p)
