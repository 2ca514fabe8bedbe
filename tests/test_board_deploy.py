"""profile / build / validate / pipeline with --board, over the loopback sshd (see loopback_ssh.py)."""

import json
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, fast_target
from .loopback_ssh import _keys, cli, needs_openssh, one_line_error

pytestmark = needs_openssh

DOCTOR = ROOT / "edgenas" / "assets" / "doctor"
ACCURACY = ("n", "top1", "ref_top1", "top1_agreement", "max_abs_err", "mean_abs_err", "cosine_mean", "cosine_min", "checks",
            "status")


def test_profile_with_board_through_the_cli_and_the_api(env, tmp_path, tiny_bundle, tiny_space, tiny_table, monkeypatch):
    bundle, _ = tiny_bundle
    target = fast_target(tmp_path)
    proc = cli(env, "profile", "--board", "loop", "--bundle", bundle, "--target", target, "--out", tmp_path / "T.json",
               "--quiet", check=0)
    assert "loop: wrote {}".format(tmp_path / "T.json") in proc.stdout
    assert _keys(tmp_path / "T.json") == _keys(tiny_table)
    # The API plans into the default bundle folder (the same one a local profile uses), then profiles on the board.
    import edgenas
    from edgenas.tasks.profile import default_bundle_dir

    monkeypatch.chdir(tmp_path)
    r = edgenas.profile(str(target), "T-{board}.json", space=tiny_space, networks=6, board="loop", progress=False)
    assert r.board == "loop" and r.table == Path("T-loop.json") and r.entries == len(_keys(tiny_table))
    planned = default_bundle_dir(tiny_space, edgenas.load_target(str(target)), networks=6)
    assert (tmp_path / planned / "manifest.json").is_file() and "-onnxruntime-fp32-" in planned.name
    with pytest.raises(edgenas.EdgenasError, match="has no target; pass one"):
        edgenas.profile(None, "T.json", space=tiny_space, networks=6, board="loop", progress=False)


@pytest.fixture
def labelled_inputs(tmp_path):
    """The doctor's 8 inputs with labels: the FP32 model's answers with three of them changed (accuracy 62.5%)."""
    import numpy as np

    x = np.load(str(DOCTOR / "inputs.npz"))["inputs"]
    labels = np.load(str(DOCTOR / "ref_outputs.npz"))["outputs"].argmax(1)
    labels[:3] = (labels[:3] + 1) % 10
    np.savez(str(tmp_path / "inputs.npz"), inputs=x, labels=labels)
    return tmp_path / "inputs.npz"


def test_validate_on_board_matches_a_local_validate_saved(env, tmp_path, labelled_inputs):
    from edgenas.backends.onnxruntime import OrtRunner
    from edgenas.data.preprocess import load_inputs
    from edgenas.tasks.validate import validate, validate_saved
    from edgenas.validation.compare import run_batched
    from edgenas.validation.run import save_outputs

    target = fast_target(tmp_path, base="cpu-x86-ort-int8")
    art, ref = DOCTOR / "tiny.ort-int8.onnx", DOCTOR / "tiny.onnx"
    proc = cli(env, "validate", art, "--ref", ref, "--target", target, "--inputs", labelled_inputs, "--board", "loop",
               "--min-agreement", "50", "--max-acc-drop", "100", "--min-cosine", "0", "--out", tmp_path / "rep", "--quiet",
               check=0)
    assert "Overall: **PASS**" in proc.stdout
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["context"]["board"] == "loop" and "ONNX Runtime on the host" in report["context"]["reference"]
    host_row, board_row = report["rows"]
    assert host_row["stage"].startswith("reference fp32") and host_row["top1"] == 62.5 and host_row["latency_p50_ms"] is None
    assert board_row["latency_p50_ms"] > 0 and board_row["path"] == str(art)
    assert (tmp_path / "rep" / "report.md").read_text().count("| artifact on ") == 1
    # The same comparison run locally the way tools/validate_on_device.py runs it gives the same figures.
    x, _ = load_inputs(labelled_inputs)
    with OrtRunner(ref) as r:
        save_outputs(tmp_path / "ref.npz", run_batched(r, x, 1), x)
    local = validate_saved(art, target, labelled_inputs, tmp_path / "ref.npz", tmp_path / "local", 100, 50, 0)
    assert {k: board_row[k] for k in ACCURACY} == {k: local.rows[0][k] for k in ACCURACY}
    # Through the API, with a threshold it misses: a FAIL report, not an error.
    failed = validate(art, ref, target, tmp_path / "rep2", inputs=labelled_inputs, min_agreement=100.1, board="loop",
                      progress=False)
    assert failed.status == "FAIL" and failed.rows[1]["checks"]["agreement"] is False
    with pytest.raises(Exception, match="drop save_outputs"):
        validate(art, ref, target, tmp_path / "rep3", inputs=labelled_inputs, save_outputs=tmp_path / "o.npz", board="loop")


def test_build_on_board_checks_here_first_and_names_missing_tensorrt(env, tmp_path):
    work = tmp_path / "board work"
    # ONNX Runtime's Q/DQ flavour cannot parse in TensorRT: refused here, before the board is even contacted.
    line = one_line_error(cli(env, "build", DOCTOR / "tiny.ort-int8.onnx", "--target", "t4-trt-int8", "--board", "loop",
                              "--out", tmp_path / "m.engine"))
    assert "fails the TensorRT" in line and "nothing was sent to board 'loop'" in line, line
    assert not work.exists()
    # The TensorRT flavour passes the check; this board has no TensorRT: one line from its probe, no upload.
    line = one_line_error(cli(env, "build", DOCTOR / "tiny.trt-int8.onnx", "--target", "t4-trt-int8", "--board", "loop",
                              "--out", tmp_path / "m.engine"))
    assert "board 'loop' cannot build a TensorRT engine for t4-trt-int8: TensorRT is not installed" in line, line
    assert not list(work.glob("jobs/*")) and not list(tmp_path.glob("m.engine*"))
    assert "nothing to build" in one_line_error(cli(env, "build", DOCTOR / "tiny.onnx", "--target", "cpu-x86-ort-int8",
                                                    "--board", "loop", "--out", tmp_path / "m.engine"))
    # The board-side build command itself, run as a job: its own one-line error comes back.
    from edgenas.board.api import remote_for
    from edgenas.board.deploy import remote_build
    from edgenas.board.job import JobSpec, run_job
    from edgenas.errors import EdgenasError
    from edgenas.targets import load_target

    t = load_target("t4-trt-int8")
    spec = JobSpec("loop: build", {"kind": "build-test"}, {"in/m.onnx": DOCTOR / "tiny.trt-int8.onnx",
                                                           "target.json": json.dumps(t.to_dict()).encode()},
                   ["build", "in/m.onnx", "--target-json", "target.json", "--out", "model.engine", "--board-cache"],
                   {"model.engine": tmp_path / "m.engine"})
    with pytest.raises(EdgenasError, match="the remote job failed: TensorRT is not installed here"):
        run_job(remote_for("loop"), spec, show_progress=False)
    with pytest.raises(EdgenasError, match="TensorRT is not installed"):
        remote_build("loop", DOCTOR / "tiny.trt-int8.onnx", t, tmp_path / "m.engine", show_progress=False)
    assert not list(tmp_path.glob("m.engine*")) and not list(tmp_path.glob(".m.engine*"))


PIPE = {"target": "cpu-x86-ort-int8", "latency_ms": 5.0,
        "supernet": {"train_subset": 64, "val_size": 32, "epochs": 1, "batch_size": 32},
        "search": {"population": 4, "generations": 1, "budget": 4}, "finetune": {"epochs": 1, "train_subset": 64},
        "quantize": {"calib_size": 16}, "validate": {"limit": 32, "min_agreement": 0, "max_acc_drop": 100,
                                                     "min_cosine": 0, "max_latency_over_predicted": 100}}


def test_pipeline_with_board_validates_on_the_board(env, tmp_path):
    from .test_data import FASHION_DIR

    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(dict(PIPE, out=str(tmp_path / "run"), board="lop")))
    assert "p.yaml.board: unknown board 'lop' (did you mean 'loop'?)" in one_line_error(cli(env, "run", p))
    assert "pipeline.board: unknown board 'lop' (did you mean 'loop'?)" in one_line_error(
        cli(env, "pipeline", "--board", "lop", "--out", tmp_path / "flags"))
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    p.write_text(yaml.safe_dump(dict(PIPE, out=str(tmp_path / "run"), board="loop")))
    proc = cli(dict(env, OMP_NUM_THREADS="1"), "run", p, check=0)  # one thread: spinning OpenMP threads on a busy
    # 2-core machine made the training stages 10x slower
    assert "[validate ] done" in proc.stdout and "PASS on board loop" in proc.stdout, proc.stdout
    report = json.loads((tmp_path / "run" / "09-validate" / "report.json").read_text())
    assert report["context"]["board"] == "loop" and report["rows"][1]["latency_p50_ms"] > 0
    summary = json.loads((tmp_path / "run" / "report" / "summary.json").read_text())
    assert [r["stage"] for r in summary["rows"]][-2:] == ["FP32 ONNX", "deployed int8"] and summary["board_commands"] == []
    assert len(list((tmp_path / "board work" / "jobs").glob("*/report/report.json"))) == 1


def test_a_table_from_another_machine_is_named_against_the_boards_own_fingerprint(env, tmp_path, tiny_table):
    """validate --board --table compares the table with the board's fingerprint (not the host's), field by field."""
    from edgenas.board.registry import get_board
    from edgenas.latency.table import LatencyTable
    from edgenas.targets import load_target
    from edgenas.tasks.validate import _board_provenance

    target = load_target(str(fast_target(tmp_path)))
    assert _board_provenance(get_board("loop"), tiny_table, target, False) == []  # measured here; the board is here
    lt = LatencyTable.load(tiny_table)
    lt.header["device"]["cpu"]["isa"] = sorted(set(lt.header["device"]["cpu"]["isa"]) | {"amx_int8"})
    lt.header["software"]["onnxruntime"] = "0.0.1"
    lt.save(tmp_path / "other.json")
    (w,) = _board_provenance(get_board("loop"), tmp_path / "other.json", target, False)
    assert "than board 'loop'" in w and "CPU ISA: table has amx_int8" in w and "onnxruntime: table 0.0.1" in w
    assert "edgenas drift" in w and "--board loop" in w


def _external_copy(tmp_path: Path) -> Path:
    """The doctor's tiny model with its weights in an external file (both travel to the board)."""
    import onnx

    model = tmp_path / "own" / "tiny.onnx"
    model.parent.mkdir()
    onnx.save_model(onnx.load(str(DOCTOR / "tiny.onnx")), str(model), save_as_external_data=True,
                    location="tiny.weights", size_threshold=0)
    assert (model.parent / "tiny.weights").is_file()
    return model


def test_profile_own_model_on_the_board_writes_the_files_here(env, tmp_path):
    import onnx

    target = fast_target(tmp_path)
    model = _external_copy(tmp_path)
    out = tmp_path / "prof" / "tiny.profile.json"
    args = ("profile", model, "--target", target, "--board", "loop", "--budget-s", "2", "--out", out, "--quiet")
    proc = cli(env, *args, check=0)
    assert "mapped to ONNX nodes" in proc.stdout and "started job" in proc.stderr, proc.stderr
    p = json.loads(out.read_text())
    assert p["schema"] == "edgenas.model_profile/1" and p["board"] == "loop" and p["model"]["path"] == str(model)
    assert p["e2e"]["median_ms"] > 0 and p["coverage"] >= 0.95 and p["rows"] and p["protocol"]["profiled_runs"] > 0
    nodes = {n.name for n in onnx.load(str(model), load_external_data=False).graph.node}
    covered = [n for r in p["rows"] for n in r["onnx_nodes"]]
    assert covered and set(covered) <= nodes and len(covered) == len(set(covered))
    md = out.with_suffix(".md").read_text()
    assert "# Per-layer profile: tiny.onnx on board loop" in md and "| # | ONNX node(s) |" in md
    # measured there: the job ran in the board's work dir, with the model's external data beside it
    (job,) = (tmp_path / "board work" / "jobs").glob("*/profile.json")
    assert (job.parent / "in" / "tiny.weights").is_file() and json.loads(job.read_text())["e2e"] == p["e2e"]
    # the same command again fetches the finished job's result instead of measuring again
    proc = cli(env, *args, check=0)
    assert "finished earlier" in proc.stderr and json.loads(out.read_text())["e2e"] == p["e2e"], proc.stderr


def test_profile_own_model_bad_board_is_one_line_and_writes_nothing(env, sshd, tmp_path):
    import shlex
    import sys

    from .loopback_ssh import board, write_boards

    target = fast_target(tmp_path)
    out = tmp_path / "prof" / "tiny.profile.json"
    line = one_line_error(cli(env, "profile", DOCTOR / "tiny.onnx", "--target", target, "--board", "nope", "--out", out))
    assert "unknown board 'nope'" in line, line
    line = one_line_error(cli(env, "profile", DOCTOR / "tiny.onnx", "--target", "t4-trt-fp16", "--board", "loop",
                              "--out", out))
    assert "runs tensorrt" in line and "ONNX Runtime targets" in line, line
    # a board whose Python lacks onnxruntime: the readiness line, before anything is uploaded
    blocker = tmp_path / "blk" / "onnxruntime"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no onnxruntime on this board')\n")
    py = tmp_path / "python-no-ort"
    py.write_text('#!/bin/sh\nPYTHONPATH="$PYTHONPATH:{}" exec {} "$@"\n'.format(shlex.quote(str(tmp_path / "blk")),
                                                                                 shlex.quote(sys.executable)))
    py.chmod(0o755)
    e = sshd.env(write_boards(tmp_path / "b2.yaml", noort=board(sshd, tmp_path / "noort work", python=str(py))))
    line = one_line_error(cli(e, "profile", DOCTOR / "tiny.onnx", "--target", target, "--board", "noort", "--out", out))
    assert "board 'noort' cannot profile your model" in line and "onnxruntime is missing" in line, line
    assert not list((tmp_path / "noort work").glob("jobs/*")) and not out.parent.exists()
