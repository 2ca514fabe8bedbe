import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TINY_SPACE = {"resolution": 16, "depths": [1, 2], "kernels": [3, 5], "expands": [3], "acts": ["re"], "se": [False, True],
              "head_channels": 32}
FAST_PROTOCOL = {"warmup": 1, "repeat": 3, "rounds": 3, "min_round_ms": 0.2, "max_spread_pct": 50.0,
                 "max_extra_rounds": 1}


def fast_target(tmp_path: Path, base: str = "cpu-x86-ort-fp32", **protocol) -> Path:
    """A shipped target with a fast protocol, written where tests can pass its path."""
    data = yaml.safe_load((ROOT / "targets" / (base + ".yaml")).read_text())
    data["protocol"] = dict(FAST_PROTOCOL, **protocol)
    path = tmp_path / (base + "-fast.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def space_opts():
    return ["--space-opt={}={}".format(k, json.dumps(v)) for k, v in TINY_SPACE.items()]


def run_cli(*args, env=None, check=None):  # noqa: F811 (a parameter, not the board tests' fixture)
    proc = subprocess.run([sys.executable, "-m", "edgenas", *map(str, args)], capture_output=True, text=True,
                          cwd=str(ROOT), env=dict(os.environ, **(env or {})))
    if check is not None:
        assert proc.returncode == check, proc.stderr + proc.stdout
    return proc


@pytest.fixture(scope="session")
def tiny_space():
    from edgenas.space import get_space

    return get_space("mbv3-small", **TINY_SPACE)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_space):
    from edgenas.latency.bundle import plan_bundle
    from edgenas.targets import load_target

    d = tmp_path_factory.mktemp("bundle")
    target = load_target(str(fast_target(d)))
    plan_bundle(tiny_space, target, d / "b", n_networks=6, show_progress=False)
    return d / "b", target


@pytest.fixture(scope="session")
def tiny_table(tmp_path_factory, tiny_bundle):
    from edgenas.latency.board import profile_bundle

    bundle, target = tiny_bundle
    out = tmp_path_factory.mktemp("table") / "tiny.json"
    profile_bundle(bundle, target, out, show_progress=False)
    return out


from .loopback_ssh import env, sshd  # noqa: E402,F401  (fixtures for the board tests: one sshd per session)
