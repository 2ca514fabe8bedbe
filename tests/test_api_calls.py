"""Every CLI command that does work has a Python API call (issue 21), and the CLI prints what the API returns."""

import argparse
import re

import edgenas
from edgenas.cli.main import build_parser

from .conftest import ROOT, run_cli

TABLE = "latency_tables/cpu-x86-ort-fp32_mbv3-small_r28.json"
ARCH = "ir_k3_e4_re,ir_k3_e4_re|ir_k3_e4_re,ir_k3_e4_re|ir_k3_e4_re,ir_k3_e4_re|ir_k3_e4_re,ir_k3_e4_re"
# top-level command -> its API call(s)
API = {"targets": ["list_targets", "load_target"], "space": ["get_space", "list_spaces"], "profile": ["profile", "plan_bundle",
       "profile_bundle", "profile_model"], "predict": ["predict"], "drift": ["check_table"], "inspect": ["inspect_table"],
       "supernet": ["train_supernet"], "search": ["search"], "extract": ["extract"], "finetune": ["finetune"],
       "prune": ["prune"], "export": ["export"], "quantize": ["quantize", "quantize_auto"], "check": ["check"], "build": ["build"],
       "validate": ["validate"], "doctor": ["doctor"], "run": ["run_pipeline", "load_pipeline"], "pipeline": ["run_pipeline"],
       "board": ["add_board", "load_boards", "get_board", "remove_board", "setup_board", "board_jobs", "clean_board",
                 "remote_profile"]}


def test_every_command_has_an_api_call():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = sorted(set(sub.choices) - set(API))
    assert not missing, "commands without a Python API call listed here: {}".format(missing)
    for cmd, names in API.items():
        for n in names:
            assert n in edgenas.api.__all__ and callable(getattr(edgenas, n)), (cmd, n)


def test_predict_and_inspect_print_what_the_api_returns():
    r = edgenas.predict(ROOT / TABLE, ARCH)
    assert r.arch == ARCH and r.target == "cpu-x86-ort-fp32" and r.precision == "fp32" and r.latency_ms > 0
    assert len(r.ops) == 10 and r.params > 0 and r.macs > 0
    out = run_cli("predict", "--table", TABLE, "--arch", ARCH, check=0).stdout
    assert float(re.search(r"predicted\s+([0-9.]+) ms", out).group(1)) == round(r.latency_ms, 4)
    info = edgenas.inspect_table(ROOT / TABLE, top=3)
    assert info.entries == 290 and len(info.slowest) == 3 and info.slowest[0][1] >= info.slowest[-1][1]
    out = run_cli("inspect", "table", TABLE, "--top", "3", check=0).stdout
    assert out.splitlines()[: len(info.summary)] == [line.replace(str(ROOT / TABLE), TABLE) for line in info.summary]
    assert "{} {:.4f} ms".format(*info.slowest[0]) in out


def test_board_registry_through_the_api(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGENAS_BOARDS", str(tmp_path / "boards.yaml"))
    edgenas.add_board(edgenas.BoardEntry("orin", "ssh://nvidia@orin.local", "jetson-orin-nano-trt-int8"))
    assert list(edgenas.load_boards()) == ["orin"] and edgenas.get_board("orin").target == "jetson-orin-nano-trt-int8"
    assert "orin" in run_cli("board", "list", env={"EDGENAS_BOARDS": str(tmp_path / "boards.yaml")}, check=0).stdout
    edgenas.remove_board("orin")
    assert edgenas.load_boards() == {}
