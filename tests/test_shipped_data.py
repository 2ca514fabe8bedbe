"""Shipped targets and tables: the lookup order (env, working directory, package) and the target-hash check."""

import yaml

from edgenas.latency.table import LatencyTable
from edgenas.targets import SHIPPED_DIR, find_data_file, list_targets, load_target, search_dirs, target_from_dict

from .conftest import ROOT

TABLE = "cpu-x86-ort-fp32_mbv3-small_r28.json"


def test_repo_root_dirs_are_the_package_data():
    assert (ROOT / "targets").resolve() == (SHIPPED_DIR / "targets").resolve()
    assert (ROOT / "latency_tables").resolve() == (SHIPPED_DIR / "latency_tables").resolve()


def test_lookup_order_env_then_cwd_then_shipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert search_dirs("targets") == [SHIPPED_DIR / "targets"]
    assert find_data_file("latency_tables", TABLE) == SHIPPED_DIR / "latency_tables" / TABLE
    data = yaml.safe_load((SHIPPED_DIR / "targets" / "cpu-x86-ort-fp32.yaml").read_text())
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "cpu-x86-ort-fp32.yaml").write_text(yaml.safe_dump(dict(data, threads=2)))
    assert load_target("cpu-x86-ort-fp32").threads == 2  # the user's copy wins over the shipped one
    env = tmp_path / "env"
    env.mkdir()
    (env / "cpu-x86-ort-fp32.yaml").write_text(yaml.safe_dump(dict(data, threads=3)))
    monkeypatch.setenv("EDGENAS_TARGETS", str(env))
    assert load_target("cpu-x86-ort-fp32").threads == 3
    assert "t4-trt-int8" in list_targets() and list_targets().count("cpu-x86-ort-fp32") == 1
    (tmp_path / "latency_tables").mkdir()
    (tmp_path / "latency_tables" / TABLE).write_text((SHIPPED_DIR / "latency_tables" / TABLE).read_text())
    assert str(find_data_file("latency_tables", TABLE)) == "latency_tables/" + TABLE


def test_table_by_name_loads_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t = LatencyTable.load("latency_tables/" + TABLE)
    assert t.path == str(SHIPPED_DIR / "latency_tables" / TABLE) and t.entries


def test_table_for_a_changed_target_warns_naming_both_hashes(capsys):
    table = LatencyTable.load(SHIPPED_DIR / "latency_tables" / TABLE)
    same = load_target("cpu-x86-ort-fp32")
    assert table.check_matches(target=same) == []
    assert "warning" not in capsys.readouterr().err
    changed = target_from_dict(dict(same.to_dict(), threads=2))
    assert table.check_matches(target=changed) == []  # a warning, not a refusal
    err = capsys.readouterr().err
    assert err.startswith("warning: latency table " + TABLE) and err.count("\n") == 1
    assert table.header["target_sha256"][:12] in err and changed.sha256[:12] in err and "edgenas profile" in err
