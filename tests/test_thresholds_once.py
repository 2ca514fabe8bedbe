"""The validation thresholds have one name and one default each (edgenas/validation/report.py Thresholds):
the CLI flags, the board agent's flags, the API keywords and the pipeline's YAML keys all take them from there."""

import argparse
import inspect
import re

import pytest

from edgenas.errors import EdgenasError
from edgenas.validation.report import Thresholds

from .conftest import ROOT

NAMES = ("max_acc_drop", "min_agreement", "min_cosine", "max_latency_over_predicted")


def _defaults(parser):
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    p = sub.choices["validate"]
    return {a.dest: a.default for a in p._actions if a.dest in NAMES}


def test_every_surface_uses_the_one_declaration():
    from edgenas.agent.main import build_parser as agent_parser
    from edgenas.cli.main import build_parser
    from edgenas.pipeline.config import ValidateOpts
    from edgenas.tasks.validate import validate, validate_saved

    want = {n: getattr(Thresholds(), n) for n in NAMES}
    assert _defaults(build_parser()) == want
    assert _defaults(agent_parser()) == want
    for fn in (validate, validate_saved):
        sig = inspect.signature(fn).parameters
        assert {n: sig[n].default for n in NAMES} == want, fn.__name__
    assert {n: getattr(ValidateOpts(), n) for n in NAMES} == want


def test_no_second_name_or_literal_default_in_the_code():
    bad = []
    for p in list((ROOT / "edgenas").rglob("*.py")) + list((ROOT / "tools").glob("*.py")):
        text = p.read_text()
        for m in re.finditer(r"max_acc_drop_pt|min_agreement_pct|\b97\.0\b", text):
            if p.name != "report.py" or "validation" not in p.parts:
                bad.append("{}: {}".format(p.relative_to(ROOT), m.group(0)))
    assert not bad, bad


def test_old_pipeline_keys_name_the_new_one(tmp_path):
    from edgenas.pipeline.config import load_pipeline

    p = tmp_path / "p.yaml"
    p.write_text("validate: {max_acc_drop_pt: 2}\n")
    with pytest.raises(EdgenasError, match=r"max_acc_drop_pt.*max_acc_drop"):
        load_pipeline(p)
