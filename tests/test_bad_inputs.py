"""Issue 21's bad inputs, one test each: a one-line error naming the value and the fix, and nothing written."""

import gzip
import json
import shutil
import struct

import numpy as np
import pytest
import yaml

from edgenas.errors import EdgenasError

from .conftest import ROOT, TINY_SPACE, fast_target, run_cli

TARGET = ROOT / "targets" / "cpu-x86-ort-fp32.yaml"


def _one_line(res, *needles):
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in res.stderr, (n, res.stderr)


@pytest.mark.parametrize("key,value,msg", [
    ("min_round_ms", 0, "min_round_ms: must be > 0, got 0"),
    ("min_round_ms", -5.0, "min_round_ms: must be > 0, got -5.0"),
    ("max_spread_pct", 0, "max_spread_pct: must be > 0, got 0"),
    ("max_spread_pct", -1, "max_spread_pct: must be > 0, got -1"),
    ("max_extra_rounds", -1, "max_extra_rounds: must be >= 0"),
    ("rounds", 10 ** 8, "rounds: 100000000 is more than 1000 (profiling would take days)"),
    ("repeat", 10 ** 9, "repeat: 1000000000 is more than 100000"),
    ("warmup", 10 ** 9, "warmup: 1000000000 is more than 100000"),
])
def test_target_protocol_out_of_range(tmp_path, key, value, msg):
    data = yaml.safe_load(TARGET.read_text())
    data["protocol"][key] = value
    bad = tmp_path / "bad-target.yaml"
    bad.write_text(yaml.safe_dump(data))
    _one_line(run_cli("targets", "show", bad), "bad-target.yaml.protocol." + msg)
    out = tmp_path / "table.json"
    _one_line(run_cli("profile", "--target", bad, "--space", "mbv3-small", "--out", out, "--quiet"), msg)
    assert not out.exists() and not list(tmp_path.glob("*.partial*"))


def test_protocol_that_would_take_days_is_refused_with_the_estimate(tmp_path):
    data = yaml.safe_load(TARGET.read_text())
    data["protocol"].update(rounds=900, min_round_ms=2000.0, max_extra_rounds=4)
    bad = tmp_path / "slow.yaml"
    bad.write_text(yaml.safe_dump(data))
    _one_line(run_cli("targets", "show", bad), "slow.yaml.protocol: (rounds 900 + max_extra_rounds 4) x min_round_ms 2000",
              "1808 s per op", "days", "lower rounds or min_round_ms")


def test_zero_extra_rounds_means_never_remeasure_and_is_accepted(tmp_path):
    data = yaml.safe_load(TARGET.read_text())
    data["protocol"]["max_extra_rounds"] = 0
    ok = tmp_path / "ok.yaml"
    ok.write_text(yaml.safe_dump(data))
    assert "max_extra_rounds: 0" in run_cli("targets", "show", ok, check=0).stdout


@pytest.mark.parametrize("opt,msg", [
    ("depths=[]", "option depths must be a non-empty list"),
    ("kernels=[]", "option kernels must be a non-empty list"),
    ("expands=[]", "option expands must be a non-empty list"),
    ("acts=[]", "option acts must be a non-empty list"),
    ("se=[]", "option se must be a non-empty list"),
    ("stages=[]", "option stages must be a non-empty list of [channels, stride] pairs"),
    ("stages=[[24,0]]", "stages[0] has stride 0; strides must be >= 1"),
    ("stages=[[24,2],[40,-2]]", "stages[1] has stride -2; strides must be >= 1"),
    ("stages=[[0,2]]", "stages[0] has 0 channels"),
    ("stages=[[24]]", "stages[0] must be [channels, stride]"),
    ("kernels=[3,3,5]", "option kernels: 3 listed more than once"),
    ("kernels=[0,3]", "option kernels: 0 is not allowed (each must be an odd integer >= 1"),
    ("kernels=[-3]", "option kernels: -3 is not allowed"),
    ("kernels=[4]", "option kernels: 4 is not allowed"),
    ("expands=[0]", "option expands: 0 is not allowed"),
    ("expands=[6,6]", "option expands: 6 listed more than once"),
    ("depths=[1,1]", "option depths: 1 listed more than once"),
    ("depths=[0]", "option depths: 0 is not allowed"),
    ("stem_channels=0", "option stem_channels must be an integer >= 1, got 0"),
    ("stem_stride=0", "option stem_stride must be an integer >= 1, got 0"),
    ("head_channels=-8", "option head_channels must be an integer >= 1, got -8"),
])
def test_space_opt_lists_and_values(tmp_path, opt, msg):
    _one_line(run_cli("space", "show", "mbv3-small", "--space-opt", opt), "space 'mbv3-small': " + msg)
    bundle = tmp_path / "bundle"
    _one_line(run_cli("profile", "plan", "--target", "cpu-x86-ort-fp32", "--space", "mbv3-small", "--space-opt", opt,
                      "--bundle", bundle), msg)
    assert not bundle.exists()


@pytest.mark.parametrize("content,why", [
    (b"{\"table\": {\"key\": ", "Expecting value"),
    (b"", "Expecting value"),
    (bytes(range(256)), "utf-8"),
    (b"[1, 2, 3]", "a JSON list, not an object of stage records"),
])
def test_unreadable_pipeline_state_is_said_and_started_over(tmp_path, content, why):
    from edgenas.pipeline.config import PipelineConfig
    from edgenas.pipeline.run import Pipeline

    out = tmp_path / "run"
    out.mkdir()
    (out / "pipeline.json").write_bytes(content)
    lines = []
    p = Pipeline(PipelineConfig(target="cpu-x86-ort-fp32", out=str(out)), log=lines.append)
    assert p.state == {}
    assert len(lines) == 1 and "pipeline.json is unreadable" in lines[0] and why in lines[0] and "starting over" in lines[0]


def test_pipeline_state_with_a_damaged_record_reruns_that_stage_only(tmp_path):
    from edgenas.pipeline.config import PipelineConfig
    from edgenas.pipeline.run import Pipeline

    out = tmp_path / "run"
    out.mkdir()
    good = {"key": "abc", "seconds": 1.0, "outputs": [], "note": "", "bytes": 0}
    (out / "pipeline.json").write_text(json.dumps({"table": good, "supernet": [1], "search": {"key": 5}}))
    lines = []
    p = Pipeline(PipelineConfig(target="cpu-x86-ort-fp32", out=str(out)), log=lines.append)
    assert p.state == {"table": good}
    assert len(lines) == 1 and "record(s) search, supernet unreadable" in lines[0]


@pytest.mark.parametrize("mutate,msg", [
    (lambda m: m.pop("ops"), "the manifest lacks 'ops'"),
    (lambda m: m.pop("overhead"), "the manifest lacks 'overhead'"),
    (lambda m: m.update(ops={"a": 1}), "ops must be a list, got {'a': 1}"),
    (lambda m: m.update(networks="nets"), "networks must be a list, got 'nets'"),
    (lambda m: m.update(ops=[]), "'ops' is empty"),
    (lambda m: m["ops"][0].pop("key"), "ops[0] lacks 'key'"),
    (lambda m: m["ops"][0].update(file=5), "ops[0].file must be a string, got 5"),
    (lambda m: m["ops"][1].update(params="many"), "ops[1].params must be an integer, got 'many'"),
    (lambda m: m["ops"][0]["input"].update(shape=[1, 0, 8]), "ops[0].input.shape [1, 0, 8] must be integers >= 1"),
    (lambda m: m["networks"][0].update(ops=["ir_nope"]), "networks[0] uses op 'ir_nope', which 'ops' lacks"),
    (lambda m: m["target"].pop("precision"), "target lacks 'precision'"),
    (lambda m: m["overhead"].update(sha256=None), "overhead.sha256 must be a string, got None"),
])
def test_bundle_manifest_missing_or_wrong_typed_keys(tmp_path, tiny_bundle, mutate, msg):
    src, _ = tiny_bundle
    bundle = tmp_path / "bundle"
    shutil.copytree(src, bundle)
    m = json.loads((bundle / "manifest.json").read_text())
    mutate(m)
    (bundle / "manifest.json").write_text(json.dumps(m))
    out = tmp_path / "t.json"
    res = run_cli("profile", "board", bundle, "--target", fast_target(tmp_path), "--out", out, "--quiet")
    _one_line(res, "ops bundle manifest", msg, "re-plan the bundle")
    assert not out.exists()


def _idx(path, arr, gz=False):
    data = bytes([0, 0, 8, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def _idx_dir(tmp_path, n=40):
    d = tmp_path / "idx"
    d.mkdir()
    rng = np.random.default_rng(0)
    _idx(d / "train-images-idx3-ubyte", rng.integers(0, 255, (n, 12, 12)))
    _idx(d / "train-labels-idx1-ubyte", np.arange(n) % 4)
    return d


def test_idx_truncated_header_body_and_mislabelled(tmp_path):
    from edgenas.data.loaders import load_dataset

    d = _idx_dir(tmp_path)
    assert len(load_dataset(str(d))) == 40  # the good one loads
    img, lab = d / "train-images-idx3-ubyte", d / "train-labels-idx1-ubyte"
    good_img, good_lab = img.read_bytes(), lab.read_bytes()
    img.write_bytes(good_img[:9])  # the header promises 3 dims (12 bytes) but the file ends inside it
    with pytest.raises(EdgenasError, match=r"train-images-idx3-ubyte is truncated or damaged: its IDX header names 3 "
                                           r"dimensions but the file has 9 bytes"):
        load_dataset(str(d))
    img.write_bytes(good_img[:500])
    with pytest.raises(EdgenasError, match=r"train-images-idx3-ubyte is truncated: header says 5760 values, file has 484"):
        load_dataset(str(d))
    img.write_bytes(good_lab)  # the labels file under the images name
    lab.write_bytes(good_img)
    with pytest.raises(EdgenasError, match=r"train-images-idx3-ubyte holds a 1-D array \[40\]; an images file is 3-D"):
        load_dataset(str(d))
    img.write_bytes(good_img)
    with pytest.raises(EdgenasError, match=r"train-labels-idx1-ubyte holds a 3-D array \[40, 12, 12\]; a labels file is 1-D"):
        load_dataset(str(d))
    _idx(lab, np.arange(39) % 4)
    with pytest.raises(EdgenasError, match=r"40 images but 39 labels"):
        load_dataset(str(d))
    lab.write_bytes(b"\x00\x00\x0d\x01" + good_lab[4:])  # a float IDX file: not unsigned bytes
    with pytest.raises(EdgenasError, match=r"not an unsigned-byte IDX file \(bad magic number\)"):
        load_dataset(str(d))


def test_validate_labels_whose_count_differs_from_the_inputs(tmp_path):
    onnx = ROOT / "edgenas" / "assets" / "doctor" / "tiny.onnx"
    with np.load(str(ROOT / "edgenas" / "assets" / "doctor" / "inputs.npz")) as z:
        x = z["inputs"]
    bad = tmp_path / "inputs.npz"
    np.savez(bad, inputs=x, labels=np.zeros(len(x) + 3, dtype=np.int64))
    out = tmp_path / "rep"
    res = run_cli("validate", onnx, "--ref", onnx, "--target", "cpu-x86-ort-fp32", "--inputs", bad, "--out", out, "--quiet")
    _one_line(res, "inputs.npz", "labels", str(len(x) + 3), str(len(x)))
    assert not out.exists()
    from edgenas.data.preprocess import load_inputs  # the board-side loader (tools/validate_on_device.py)

    with pytest.raises(EdgenasError, match=r"'labels' must be integers, one per input \({} inputs\)".format(len(x))):
        load_inputs(bad)
    out = tmp_path / "q.onnx"
    res = run_cli("quantize", onnx, "--target", "cpu-x86-ort-int8", "--calib-inputs", bad, "--out", out)
    _one_line(res, "inputs.npz", "labels", str(len(x) + 3), str(len(x)))
    assert not out.exists()


def _unknown_op_model(path, domain):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8, 8])
    nodes = [helper.make_node("Relu", ["input"], ["a"], name="relu0"),
             helper.make_node("FancyOp", ["a"], ["y"], name="my_custom_node", domain=domain)]
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=opsets), str(path))


@pytest.mark.parametrize("domain,msg", [
    ("com.example", "node 'my_custom_node' uses op com.example::FancyOp: domain 'com.example' is not one ONNX Runtime knows"),
    ("", "node 'my_custom_node' uses op FancyOp: no op 'FancyOp' in ONNX opset 17"),
])
def test_quantize_an_onnx_runtime_cannot_load_names_the_node_and_op(tmp_path, domain, msg):
    model = tmp_path / "custom.onnx"
    _unknown_op_model(model, domain)
    calib = tmp_path / "calib.npz"
    np.savez(calib, inputs=np.random.default_rng(0).random((32, 1, 8, 8), dtype=np.float32))
    out = tmp_path / "custom.int8.onnx"
    res = run_cli("quantize", model, "--target", "cpu-x86-ort-int8", "--calib-inputs", calib, "--out", out)
    _one_line(res, "custom.onnx: " + msg)
    assert "ONNXRuntimeError" not in res.stderr and "augmented_model" not in res.stderr
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))


def test_space_checks_reach_the_api_too():
    from edgenas.space import get_space

    with pytest.raises(EdgenasError, match=r"option kernels: 2 is not allowed"):
        get_space("mbv3-small", **dict(TINY_SPACE, kernels=[2, 3]))
