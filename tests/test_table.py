import json

import pytest

from edgenas.errors import EdgenasError
from edgenas.latency.predictor import Predictor
from edgenas.latency.table import LatencyTable
from edgenas.space import get_space


def _mutated(tiny_table, tmp_path, fn):
    data = json.loads(tiny_table.read_text())
    fn(data)
    p = tmp_path / "t.json"
    p.write_text(json.dumps(data))
    return p


def test_truncated_table_is_refused(tiny_table, tmp_path):
    p = tmp_path / "t.json"
    p.write_text(tiny_table.read_text()[:500])
    with pytest.raises(EdgenasError, match="corrupt or truncated"):
        LatencyTable.load(p)


@pytest.mark.parametrize("fn,msg", [
    (lambda d: d.update(schema="edgenas.latency_table/0"), "has schema 'edgenas.latency_table/0'"),
    (lambda d: d.pop("schema"), "not an edgenas latency table"),
    (lambda d: d["header"].pop("calibration"), "header lacks calibration"),
    (lambda d: d["entries"][next(iter(d["entries"]))].pop("median_ms"), "lacks numeric"),
])
def test_wrong_schema_is_refused(tiny_table, tmp_path, fn, msg):
    with pytest.raises(EdgenasError, match=msg):
        LatencyTable.load(_mutated(tiny_table, tmp_path, fn))


def test_missing_table_file(tmp_path):
    with pytest.raises(EdgenasError, match="does not exist"):
        LatencyTable.load(tmp_path / "nope.json")


def test_table_for_another_space_is_refused(tiny_table):
    table = LatencyTable.load(tiny_table)
    with pytest.raises(EdgenasError, match="profiled for space 'mbv3-small'.*not 'mbv3' at resolution 224"):
        Predictor(table, space=get_space("mbv3"))
    assert table.check_matches(precision="int8", strict=False) == ["its precision is fp32, not int8"]


def test_missing_op_lists_it_and_the_command(tiny_table, tmp_path, tiny_space):
    arch = tiny_space.decode(tiny_space.sample(__import__("numpy").random.default_rng(0), 1)[0])
    gone = tiny_space.ops(arch)[1]
    p = _mutated(tiny_table, tmp_path, lambda d: d["entries"].pop(gone))
    with pytest.raises(EdgenasError) as e:
        Predictor(LatencyTable.load(p)).predict_arch(arch)
    msg = str(e.value)
    assert gone in msg and "edgenas profile --target" in msg and "--space mbv3-small --resolution 16" in msg
