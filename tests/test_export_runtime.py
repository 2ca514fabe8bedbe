import numpy as np
import pytest
import torch

from edgenas.errors import EdgenasError
from edgenas.modelio.onnx_export import export_onnx, load_onnx
from edgenas.backends.onnxruntime import OrtRunner
from edgenas.runtime.timing import measure_interleaved, stats
from edgenas.targets import Protocol


def test_exported_op_matches_torch_in_onnxruntime(tmp_path, tiny_space):
    key = tiny_space.all_ops()[3]
    module = tiny_space.build_op(key).eval()
    path = export_onnx(module, tiny_space.op_input_shape(key), tmp_path / "op.onnx")
    model = load_onnx(path)
    assert model.opset_import[0].version == 17
    x = np.random.default_rng(0).standard_normal(tiny_space.op_input_shape(key)).astype(np.float32)
    with OrtRunner(path) as r:
        got = r.infer({"input": x})["output"]
    want = module(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_corrupt_onnx_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage-not-a-model" * 10)
    with pytest.raises(EdgenasError, match="bad.onnx"):
        load_onnx(bad)
    with pytest.raises(EdgenasError, match="ONNX Runtime cannot load"):
        OrtRunner(bad).activate()


def test_stats_are_robust_to_an_outlier_round():
    rounds = [[1.0] * 10, [1.02] * 10, [0.98] * 10, [5.0] * 10, [1.01] * 10]
    s = stats(rounds)
    assert s["median_ms"] == pytest.approx(1.01) and s["count"] == 50 and s["rounds"] == 5
    assert s["noise_pct"] < 5


def test_interleaved_measurement_resumes_without_repeating_rounds():
    calls = {"a": lambda: np.sum(np.ones(1000)), "b": lambda: np.sum(np.ones(10))}
    counts = {"a": 0, "b": 0}
    wrapped = {k: (lambda k=k: (counts.__setitem__(k, counts[k] + 1), calls[k]())) for k in calls}
    proto = Protocol(warmup=0, repeat=5, rounds=3, min_round_ms=0.0, max_spread_pct=1e9, max_extra_rounds=0)
    partial = {"a": [[0.1] * 5, [0.1] * 5], "b": [[0.2] * 5]}
    out = measure_interleaved(wrapped, proto, samples=partial)
    assert [len(out["a"]), len(out["b"])] == [3, 3]
    assert out["a"][:2] == partial["a"]
    assert counts["a"] == 5 + 2 and counts["b"] == 2 * (5 + 2)  # warm-up of 2 per later round
