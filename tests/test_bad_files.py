"""Issue 21: every command's file inputs fuzzed the way the numeric options are (tests/test_reliability.py):
empty, truncated, binary and wrong-JSON-type files. Each run must end in one line on stderr naming the bad
file, exit 1, no traceback, and nothing written to its output path."""

import argparse
import shutil
from pathlib import Path

import pytest

from edgenas.cli.main import build_parser, main

from .conftest import ROOT

KINDS = ("empty", "truncated", "binary", "wrong_type")
SHIPPED = ROOT / "edgenas" / "shipped"
SOURCES = {"yaml": SHIPPED / "targets" / "cpu-x86-ort-fp32.yaml",
           "json": SHIPPED / "latency_tables" / "cpu-x86-ort-fp32_mbv3-small_r28.json",
           "onnx": ROOT / "edgenas" / "assets" / "doctor" / "tiny.onnx",
           "npz": ROOT / "edgenas" / "assets" / "doctor" / "inputs.npz"}
# option dest -> the kind of file it reads (the suffix the bad file gets); per-command overrides below.
# Datasets (--data) have their own tests (IDX, .npz, image folders: test_bad_inputs.py, test_reliability.py).
DESTS = {"target": "yaml", "table": "json", "path": "json", "supernet": "pt", "onnx": "onnx", "artifact": "onnx",
         "ref": "onnx", "inputs": "npz", "calib_inputs": "npz", "load_outputs": "npz", "file": "yaml", "model": "pt",
         "bundle": "bundle"}
PER_COMMAND = {("quantize", "model"): "onnx", ("profile", "model", "model"): "onnx", ("targets", "show", "name"): "yaml",
               ("profile", "plan", "bundle"): None, ("profile", "bundle"): None,  # where a bundle is written
               ("validate", "table"): None,  # read only for a model with an arch sidecar (tiny.onnx has none)
               ("prune", "table"): None,  # read after the model checkpoint (predict/search cover tables)
               ("build", "onnx"): None}  # build needs TensorRT first; tests/test_tensorrt.py covers its ONNX checks
EXTRA = {("search",): ["--mode", "pareto"]}  # a valid run apart from the files (search needs a budget or pareto)
TARGET = {("quantize",): "cpu-x86-ort-int8", ("build",): "t4-trt-fp16"}  # a target the command takes


def _commands():
    def walk(parser, prefix=()):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or parser.get_default("func") is not None and prefix:
            yield prefix, parser
        for action in subs:
            for name, p in action._name_parser_map.items():  # (choices may be a catch-all: profile MODEL.onnx)
                yield from walk(p, prefix + (name,))

    out = []
    for prefix, parser in walk(build_parser()):
        files = {}
        for a in parser._actions:
            kind = PER_COMMAND.get(prefix + (a.dest,), DESTS.get(a.dest))
            if kind and (a.option_strings or a.nargs is None) and not a.choices and a.type in (None, str):
                files[a] = kind
        # pipeline: the 'run' command's flags; board: names from the board registry (tests/test_board_*.py)
        if files and prefix[0] not in ("pipeline", "board"):
            out.append((prefix, parser, files))
    return out


def _bad_file(tmp, kind: str, suffix: str):
    d = tmp / kind
    d.mkdir(exist_ok=True)
    if suffix == "bundle":
        b = d / "bad_bundle"
        b.mkdir(exist_ok=True)
        _bad_file(tmp, kind, "json")
        shutil.copy(d / "bad.json", b / "manifest.json")
        return b
    path = d / ("bad." + suffix)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "wrong_type":
        path.write_text("[1, 2, 3]\n")
    elif suffix == "pt":
        import io

        import torch

        buf = io.BytesIO()
        torch.save({"state_dict": {"w": torch.zeros(64)}, "meta": {}}, buf)
        path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    else:
        data = SOURCES[suffix].read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


GOOD = {"yaml": "cpu-x86-ort-fp32", "json": str(SOURCES["json"]), "onnx": str(SOURCES["onnx"]), "npz": str(SOURCES["npz"])}


def _argv(prefix, parser, files, bad, kind, tmp, good):
    """``bad`` (one file input) gets the bad file; the others a good file where one is cheap, else a missing path."""
    argv, out = list(prefix) + EXTRA.get(prefix, []), tmp / "out" / "_".join(prefix + (bad.dest, kind))
    for a in parser._actions:
        if a is bad:
            value = bad_value = str(_bad_file(tmp, kind, files[a]))
        elif a in files:
            if not (a.required or not a.option_strings or a.dest == "target"):
                continue
            value = TARGET.get(prefix) if a.dest == "target" and prefix in TARGET else \
                good.get(files[a]) or str(tmp / ("missing." + files[a]))
            if a.dest != "target" and files[a] == "yaml":
                value = str(SOURCES["yaml"])
        elif a.dest == "out" and a.option_strings:
            value = str(out)
        elif a.required or not a.option_strings and a.nargs is None and not a.choices:
            value = "x"  # a name (board, arch string): the bad file must be read before it matters
            if getattr(a.type, "__name__", None) not in (None, "str"):
                value = "1"
        else:
            continue
        argv += [a.option_strings[0], value] if a.option_strings else [value]
    return argv, out, Path(bad_value).name


def test_the_fuzz_sees_every_command_that_reads_files():
    names = {" ".join(p) for p, _, _ in _commands()}
    for cmd in ("targets show", "profile board", "predict", "inspect table", "search", "extract", "finetune", "prune",
                "export", "quantize", "check", "build", "validate", "doctor", "run", "drift"):
        assert cmd in names, cmd


@pytest.mark.parametrize("kind", KINDS)
def test_every_file_input_bad_is_one_line_naming_it(tmp_path, capsys, kind, tiny_bundle):
    good = dict(GOOD, bundle=str(tiny_bundle[0]))
    failures = []
    for prefix, parser, files in _commands():
        for bad in files:
            argv, out, name = _argv(prefix, parser, files, bad, kind, tmp_path, good)
            capsys.readouterr()
            try:
                rc = main(argv)
            except SystemExit as e:
                rc = e.code
            err = capsys.readouterr().err
            cmd = "{} {}".format(" ".join(prefix), bad.option_strings[0] if bad.option_strings else bad.dest)
            if "Traceback" in err or rc != 1 or err.count("\n") != 1:
                failures.append("{} ({}): rc {} stderr {!r}".format(cmd, kind, rc, err[-400:]))
            elif name not in err:
                failures.append("{} ({}): the error does not name the bad file: {!r}".format(cmd, kind, err))
            elif out.exists():
                failures.append("{} ({}): wrote {} despite the bad input".format(cmd, kind, out))
    assert not failures, "\n".join(failures)
