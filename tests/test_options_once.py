"""The search stage's options are one typed declaration (edgenas/tasks/search_options.py): the CLI flags, the API
signature and the pipeline's YAML keys come from it, with the same names and defaults."""

import argparse
import dataclasses
import inspect

import pytest

import edgenas
from edgenas.cli.main import build_parser
from edgenas.errors import EdgenasError
from edgenas.pipeline.config import PipelineConfig
from edgenas.tasks.search_options import SearchOptions

FIELDS = {f.name: f.default for f in dataclasses.fields(SearchOptions)}


def test_cli_flags_api_signature_and_yaml_keys_come_from_the_declaration():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    flags = {a.dest: a.default for a in sub.choices["search"]._actions if a.option_strings and a.dest in FIELDS}
    assert flags == FIELDS
    params = inspect.signature(edgenas.search).parameters
    assert {n: params[n].default for n in FIELDS} == FIELDS
    section = {f.name: f.default for f in dataclasses.fields(PipelineConfig().search)}
    pipeline_only = {f.name for f in dataclasses.fields(SearchOptions) if f.metadata["pipeline"]}
    assert set(section) == pipeline_only and all(section[k] == FIELDS[k] for k in section)
    assert {"latency_ms", "seed", "device", "data"} <= set(FIELDS) - set(section)  # the pipeline's own top-level keys


def test_api_options_as_keywords_or_one_object_are_checked_alike(tmp_path):
    with pytest.raises(EdgenasError, match=r"search: unknown option 'budgte' \(did you mean 'budget'\?\)"):
        edgenas.search("cpu-x86-ort-fp32", "t.json", "s.pt", tmp_path / "s", latency_ms=1.0, budgte=5)
    with pytest.raises(EdgenasError, match=r"budget must be an integer in \[1, 1e\+07\], got 0"):
        edgenas.search("cpu-x86-ort-fp32", "t.json", "s.pt", tmp_path / "s", SearchOptions(latency_ms=1.0, budget=0))
    with pytest.raises(EdgenasError, match=r"mode must be 'single' or 'pareto', not 'greedy'"):
        edgenas.search("cpu-x86-ort-fp32", "t.json", "s.pt", tmp_path / "s", mode="greedy")
    with pytest.raises(EdgenasError, match=r"the fifth argument is a SearchOptions, got 0.5; give latency_ms=\.\.\."):
        edgenas.search("cpu-x86-ort-fp32", "t.json", "s.pt", tmp_path / "s", 0.5)
    assert not (tmp_path / "s").exists()
