"""Issue 15: no traceback, no silent nonsense. One test per class of bad input, and a fuzz over every
numeric option of every command (NaN, 0, negative, huge) asserting a one-line error."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from edgenas.cli.main import build_parser, main
from edgenas.errors import EdgenasError
from edgenas.util.checks import SPECS

from .conftest import ROOT, run_cli
from .test_table import _mutated

VALUES = ["nan", "0", "-1", "1e30", "inf"]


def _subparsers(parser, prefix=()):
    """(argv prefix, parser) of every leaf command."""
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs or parser.get_default("func") is not None and prefix:
        yield prefix, parser
    for action in subs:
        for name, p in action._name_parser_map.items():  # choices may be a catch-all (profile MODEL.onnx)
            yield from _subparsers(p, prefix + (name,))


def _numeric_options():
    cases = []
    for prefix, p in _subparsers(build_parser()):
        for a in p._actions:
            spec = getattr(a.type, "__name__", None)
            if a.option_strings and spec in SPECS:
                cases.append((prefix, p, a, spec))
    return cases


def _argv(prefix, parser, action, value, tmp):
    argv = list(prefix)
    inputs = ("target", "data", "table", "supernet", "arch", "ref", "inputs", "calib_inputs")
    for a in parser._actions:  # every input missing, so an in-range value fails fast instead of training for real
        if a is action or not a.required and a.option_strings and a.dest not in inputs:
            continue
        if a.option_strings and getattr(a.type, "__name__", None) in SPECS:
            argv += [a.option_strings[0], "1"]  # another required number: a valid one
        elif a.option_strings:
            argv += [a.option_strings[0], "nope-target" if a.dest == "target" else str(tmp / "missing.json")]
        elif a.nargs is None and not a.choices:
            argv.append(str(tmp / "missing.onnx"))
    return argv + [action.option_strings[0], value]


def test_every_numeric_option_is_range_checked_with_one_line(tmp_path, capsys):
    cases = _numeric_options()
    assert len(cases) > 40, "the fuzz must see the numeric options of every command"
    failures = []
    for prefix, parser, action, spec in cases:
        for value in VALUES:
            try:
                SPECS[spec].check("x", int(float(value)) if SPECS[spec].integer and math.isfinite(float(value)) and
                                  float(value).is_integer() else float(value))
                in_range = True
            except (EdgenasError, OverflowError, ValueError):
                in_range = False
            argv = _argv(prefix, parser, action, value, tmp_path)
            capsys.readouterr()
            try:
                rc = main(argv)
            except SystemExit as e:  # --help/--version only
                rc = e.code
            err = capsys.readouterr().err
            if "Traceback" in err:
                failures.append("{} {}: traceback {}".format(" ".join(prefix), " ".join(argv[-2:]), err[-300:]))
            elif not in_range and (rc != 1 or err.count("\n") != 1 or action.option_strings[0] not in err):
                failures.append("{} {}: rc {} stderr {!r}".format(" ".join(prefix), " ".join(argv[-2:]), rc, err[-160:]))
    assert not failures, "\n".join(failures[:20])


def test_yaml_and_api_numbers_use_the_same_checks(tmp_path):
    import edgenas
    from edgenas.pipeline.config import load_pipeline

    p = tmp_path / "p.yaml"
    p.write_text("latency_ms: .nan\n")
    with pytest.raises(EdgenasError, match=r"p.yaml.latency_ms must be a finite number"):
        load_pipeline(p)
    p.write_text("latency_ms: 0.25\nsupernet: {epochs: -2}\n")
    with pytest.raises(EdgenasError, match=r"supernet.epochs must be an integer in \[0, 10000\], got -2"):
        load_pipeline(p)
    with pytest.raises(EdgenasError, match=r"calib_size must be an integer"):
        edgenas.quantize("m.onnx", tmp_path / "q.onnx", calib_size=-3)


@pytest.mark.parametrize("fn,msg", [
    (lambda d: [e.update(median_ms=-e["median_ms"]) for e in d["entries"].values()], "must be a finite number > 0"),
    (lambda d: d["header"].update(batch="one"), "header batch is 'one'"),
    (lambda d: d["header"]["calibration"].update(scale=float("nan")), "calibration.scale"),
    (lambda d: d["header"]["calibration"].update(scale=40.0), "outside the sane"),
    (lambda d: d["header"].update(target=[]), "header target"),
])
def test_tables_are_checked_when_loaded(tmp_path, tiny_table, fn, msg):
    res = run_cli("predict", "--table", _mutated(tiny_table, tmp_path, fn), "--arch", "x", check=1)
    assert msg in res.stderr and res.stderr.count("\n") == 1


def test_datasets_with_labels_outside_the_classes_are_refused(tmp_path):
    from edgenas.data import load_dataset

    imgs = np.zeros((30, 8, 8), np.uint8)
    np.savez(tmp_path / "d.npz", images=imgs, labels=np.array([0, 1, 2] * 9 + [0, 1, 255]))
    with pytest.raises(EdgenasError, match="have no images \\(a stray label\\?\\)"):
        load_dataset(str(tmp_path / "d.npz"))
    np.savez(tmp_path / "n.npz", images=imgs, labels=np.array([0, 1, 2] * 9 + [0, 1, -1]))
    with pytest.raises(EdgenasError, match="negative labels"):
        load_dataset(str(tmp_path / "n.npz"))


def test_validate_inputs_of_the_wrong_shape_or_empty(tmp_path):
    import torch

    from edgenas.modelio.onnx_export import export_onnx

    m = export_onnx(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten()), (1, 1, 8, 8), tmp_path / "m.onnx")
    np.savez(tmp_path / "bad.npz", inputs=np.zeros((4, 1, 9, 9), np.float32))
    np.savez(tmp_path / "empty.npz", inputs=np.zeros((0, 1, 8, 8), np.float32))
    common = ["--ref", m, "--target", "cpu-x86-ort-fp32", "--out", tmp_path / "r"]
    res = run_cli("validate", m, "--inputs", tmp_path / "bad.npz", *common, check=1)
    assert "inputs are [1, 9, 9] per image but" in res.stderr
    res = run_cli("validate", m, "--inputs", tmp_path / "empty.npz", *common, check=1)
    assert "no inputs (0 images)" in res.stderr
    res = run_cli("validate", m, "--inputs", tmp_path / "empty.npz", "--limit", "0", *common, check=1)
    assert "--limit must be an integer >= 1, got 0" in res.stderr


def test_os_errors_are_one_line_naming_the_path(tmp_path):
    (tmp_path / "file").write_text("x")
    res = run_cli("profile", "plan", "--target", "cpu-x86-ort-fp32", "--bundle", tmp_path / "file" / "b", check=1)
    assert "is a file, not a folder" in res.stderr and res.stderr.count("\n") == 1
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(str(ro), os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        res = run_cli("profile", "plan", "--target", "cpu-x86-ort-fp32", "--bundle", ro / "b", check=1)
        assert "not writable" in res.stderr
    finally:
        ro.chmod(0o700)


def test_binary_and_empty_yaml_are_refused(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(bytes(range(256)) * 4)
    assert "binary data" in run_cli("run", tmp_path / "bin.yaml", check=1).stderr
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    assert "is empty; start from examples/cpu-demo.yaml" in run_cli("run", tmp_path / "empty.yaml", check=1).stderr


def test_a_second_writer_of_the_same_bundle_is_refused_and_named(tmp_path):
    from edgenas.util.lock import exclusive

    with exclusive(tmp_path / "b" / ".edgenas.lock", "bundle b"):
        res = run_cli("profile", "plan", "--target", "cpu-x86-ort-fp32", "--bundle", tmp_path / "b", check=1)
    assert "bundle {} is in use by pid {}".format(tmp_path / "b", os.getpid()) in res.stderr


def test_a_bundle_planned_with_other_settings_names_what_differs(tiny_bundle):
    from edgenas.latency.bundle import plan_bundle
    from edgenas.space import get_space

    bundle, target = tiny_bundle
    other = get_space("mbv3-small", resolution=20)
    with pytest.raises(EdgenasError, match="planned with other settings \\(space differ\\)"):
        plan_bundle(other, target, bundle, n_networks=6, show_progress=False)


def test_sigterm_leaves_no_temp_files(tmp_path):
    """A killed quantization (SIGTERM) cleans its temp folder: nothing stray beside the output."""
    import signal
    import tempfile
    import time

    import torch

    from edgenas.modelio.onnx_export import export_onnx

    m = export_onnx(torch.nn.Sequential(*[torch.nn.Conv2d(8, 8, 3, padding=1) for _ in range(30)]), (1, 8, 32, 32),
                    tmp_path / "m.onnx")
    np.savez(tmp_path / "c.npz", inputs=np.random.default_rng(0).standard_normal((64, 8, 32, 32)).astype(np.float32))
    before = set(os.listdir(tempfile.gettempdir()))
    proc = subprocess.Popen([sys.executable, "-m", "edgenas", "quantize", str(m), "--calib-inputs", str(tmp_path / "c.npz"),
                             "--calib-size", "64", "--out", str(tmp_path / "q.onnx")], cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    stray = [f for f in set(os.listdir(tempfile.gettempdir())) - before if f.startswith("edgenas-")]
    assert not stray and not [f for f in os.listdir(tmp_path) if f.startswith("tmp")], stray
    assert b"Traceback" not in err
