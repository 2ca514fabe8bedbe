"""Host side: the per-layer profile of your own ONNX model, measured on a board over SSH.

The caller (``edgenas.tasks.own_model.profile_model``) has checked the model and made the feeds on the host.
Here the model (with its external-data files), the feeds (.npz) and the target are uploaded by content hash,
the board-side agent command ``profile-model`` runs ``edgenas.latency.model_profile.profile_models`` as a
resumable job (running the same call again re-attaches or fetches), and the profile JSON comes back
hash- and schema-checked. The host writes the Markdown and the plot.
"""

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from ..errors import EdgenasError
from ..util.io import sha256_file
from .api import BoardArg
from .deploy import _arrays_sha, _target_json, _upload_name, one_board
from .job import JobSpec, run_job
from .registry import BoardEntry
from .remote import Remote, connect, readiness
from .sync import DEFAULT_MAX_UPLOAD

FEED_PREFIX = "feed:"  # the agent's profile-model strips it from the .npz keys
PROFILE_SCHEMA = "edgenas.model_profile/1"  # edgenas.latency.model_profile.SCHEMA (board-side module; not imported here)


def _tensors(graph) -> List[Any]:
    """Every tensor of a graph that can hold external data: initializers and tensor attributes, subgraphs included."""
    out = list(graph.initializer)
    for node in graph.node:
        for a in node.attribute:
            out += ([a.t] if a.HasField("t") else []) + list(a.tensors)
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                out += _tensors(g)
    return out


def external_files(model: Path) -> List[str]:
    """The external-data files ``model`` names (paths relative to its folder), each checked to exist there."""
    import onnx

    m = onnx.load(str(model), load_external_data=False)
    locs = sorted({e.value for t in _tensors(m.graph) if t.data_location == onnx.TensorProto.EXTERNAL
                   for e in t.external_data if e.key == "location"})
    for loc in locs:
        parts = loc.replace("\\", "/").split("/")
        if os.path.isabs(loc) or any(p in ("", ".", "..") for p in parts):
            raise EdgenasError("{} keeps weights in '{}', outside the model's folder; save the model with its external "
                               "data beside it (onnx.save_model(..., location='{}.data'))".format(model, loc, model.name))
        if not (model.parent / loc).is_file():
            raise EdgenasError("{} keeps weights in '{}', which is missing next to it; copy it there".format(model, loc))
    return locs


def _verify(path: Path) -> Dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise EdgenasError("the profile fetched from the board is not valid JSON; run the same command again")
    if not isinstance(data, dict) or data.get("schema") != PROFILE_SCHEMA or not isinstance(data.get("rows"), list):
        raise EdgenasError("the file fetched from the board is not an {} profile".format(PROFILE_SCHEMA))
    return data


def _ready(entry: BoardEntry, target, accept_new_host_key: bool) -> Remote:
    """Connect and refuse, before any upload, a board without the target's runtime or onnx (one line, with the fix)."""
    remote = connect(entry, accept_new_host_key)
    env = remote.call(["doctor"])["env"]
    problems = readiness(remote, env, target.backend)
    if not env.get("onnx_found"):
        problems.append("onnx is not installed (the profile maps kernels to the model's nodes with it): {} -m pip install "
                        "--user onnx".format(entry.python))
    if problems:
        raise EdgenasError("board '{}' cannot profile your model for {}: {}".format(entry.name, target.name,
                                                                                    "; ".join(problems)))
    if entry.target and entry.target != target.name:
        remote.log("note: the board is registered as {}, profiling for target {}".format(entry.target, target.name))
    return remote


def remote_profile_model(board: BoardArg, model, target, feeds: Dict[str, np.ndarray], seed: int = 0,
                         budget_s: float = 90.0, accept_new_host_key: bool = False, fresh: bool = False,
                         show_progress: bool = True, max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> Dict[str, Any]:
    """Profile ``model`` per layer on ``board`` for ``target`` (an ONNX Runtime target) with ``feeds`` (one
    inference: {input name: array}); returns the profile dict (``edgenas.latency.model_profile``) with the
    host's model path and the board's name. Running the same call again re-attaches to the remote job, or
    fetches its result (``fresh``: measure again)."""
    from ..backends.registry import get_backend

    spec = get_backend(target.backend)
    if spec.builds_engine or not spec.runs_file(str(model)):  # the ONNX itself is what the board times
        raise EdgenasError("target '{}' runs {}; per-layer profiles of your own model run on ONNX Runtime targets "
                           "(e.g. cpu-x86-ort-fp32)".format(target.name, target.backend))
    entry = one_board(board, "a per-layer profile")
    model = Path(model)
    files: Dict[str, Any] = {_upload_name(model): model, "target.json": _target_json(target)}
    data = external_files(model)
    for loc in data:
        files["in/" + loc.replace("\\", "/")] = model.parent / loc
    remote = _ready(entry, target, accept_new_host_key)
    key = {"kind": "profile-model", "model": sha256_file(model), "data": {d: sha256_file(model.parent / d) for d in data},
           "feeds": _arrays_sha(feeds), "target": target.sha256, "seed": seed, "budget_s": budget_s}
    argv = ["profile-model", _upload_name(model), "--target-json", "target.json", "--feeds", "feeds.npz",
            "--out", "profile.json", "--progress", "progress.jsonl", "--seed", str(seed), "--budget-s", repr(float(budget_s))]
    with tempfile.TemporaryDirectory(prefix="edgenas-profile-model-") as tmp:
        # keys prefixed: an input may be named like one of np.savez's own parameters ('file')
        np.savez(os.path.join(tmp, "feeds.npz"), **{FEED_PREFIX + k: np.ascontiguousarray(v) for k, v in feeds.items()})
        files["feeds.npz"] = Path(tmp) / "feeds.npz"
        spec = JobSpec(title="{}: profile {}".format(entry.name, model.name), key=key, inputs=files, argv=argv,
                       outputs={"profile.json": Path(tmp) / "profile.json"}, verify=_verify, unit="rounds")
        run_job(remote, spec, fresh=fresh, show_progress=show_progress, max_upload_bytes=max_upload_bytes)
        prof = _verify(Path(tmp) / "profile.json")
    prof["model"]["path"] = str(model)  # the host's file, not its name in the job dir
    prof.update(board=entry.name, board_url=entry.url)
    return prof
