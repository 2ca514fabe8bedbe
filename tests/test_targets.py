import pytest
import yaml

from edgenas.errors import EdgenasError
from edgenas.targets import list_targets, load_target

from .conftest import ROOT


def test_shipped_targets_load_and_cover_cpu_and_trt():
    names = list_targets()
    assert {"cpu-x86-ort-fp32", "cpu-x86-ort-int8", "jetson-orin-nano-trt-int8", "jetson-xavier-nx-trt-fp16",
            "t4-trt-fp16"} <= set(names)
    for n in names:
        t = load_target(n)
        assert t.name == n and t.protocol.rounds >= 3
        if t.backend == "tensorrt":
            assert t.software.tensorrt and t.board.compute_capability and t.board.lock_clocks


def _write(tmp_path, data):
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(p)


def _base():
    return yaml.safe_load((ROOT / "targets" / "cpu-x86-ort-fp32.yaml").read_text())


@pytest.mark.parametrize("mutate,expected", [
    (lambda d: d.update(thread=2), "unknown key 'thread' (did you mean 'threads'?)"),
    (lambda d: d["protocol"].update(rouns=3), "unknown key 'rouns' (did you mean 'rounds'?)"),
    (lambda d: d.update(threads="two"), "threads: expected an integer"),
    (lambda d: d.update(precision="int4"), "precision: 'int4' is not allowed"),
    (lambda d: d.update(backend="onnxruntim"), "did you mean 'onnxruntime'"),
    (lambda d: d.pop("backend"), "missing required key 'backend'"),
    (lambda d: d["protocol"].update(rounds=1), "at least 3 interleaved rounds"),
])
def test_bad_target_gives_one_line_error(tmp_path, mutate, expected):
    data = _base()
    mutate(data)
    with pytest.raises(EdgenasError) as e:
        load_target(_write(tmp_path, data))
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_malformed_yaml_names_the_line(tmp_path):
    with pytest.raises(EdgenasError, match=r"malformed YAML at line 3: expected"):
        load_target(_write(tmp_path, "name: x\nboard: [unclosed\n"))


def test_unknown_target_name_suggests():
    with pytest.raises(EdgenasError, match=r"did you mean 'cpu-x86-ort-int8'"):
        load_target("cpu-x86-ort-int9")
