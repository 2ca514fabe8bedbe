"""The Python API for driving boards over SSH; the CLI (``edgenas board ...``) calls these functions."""

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ..errors import EdgenasError
from .job import JobResult, JobSpec, run_job
from .registry import BoardEntry, get_board
from .remote import Remote, connect, readiness
from .sync import DEFAULT_MAX_UPLOAD

BoardArg = Union[str, BoardEntry]


def resolve_boards(boards: Union[BoardArg, Sequence[BoardArg]]) -> List[BoardEntry]:
    """Board names (a list, or one string with commas: "orin,xavier") or entries -> entries."""
    if isinstance(boards, (str, BoardEntry)):
        boards = [boards]
    out: List[BoardEntry] = []
    for b in boards:
        names = [n.strip() for n in b.split(",") if n.strip()] if isinstance(b, str) else [b]
        out += [get_board(n) if isinstance(n, str) else n for n in names]
    if not out:
        raise EdgenasError("no board given; list them with: edgenas board list")
    if len({b.name for b in out}) != len(out):
        raise EdgenasError("a board is named twice in {}".format(", ".join(b.name for b in out)))
    return out


def board_out_paths(out, names: Sequence[str]) -> List[Path]:
    """One output path per board: ``{board}`` in ``out`` is replaced by the name; without it, one board
    keeps ``out`` and several get ``T.<board>.json`` next to it."""
    out = str(out)
    if len(names) == 1 or "{board}" in out:
        return [Path(out.replace("{board}", n)) for n in names]
    p = Path(out)
    return [p.with_name("{}.{}{}".format(p.stem, n, p.suffix)) for n in names]


def setup_board(board: BoardArg, accept_new_host_key: bool = False, reinstall: bool = False,
                log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Probe the board, install this edgenas there, run its doctor; raise with the exact fix when the board
    lacks what its target needs. Returns the doctor's report (plus "workdir", "lib", "transfer")."""
    from ..targets import load_target

    entry = resolve_boards(board)[0]
    target = load_target(entry.target) if entry.target else None
    remote = connect(entry, accept_new_host_key, log, reinstall=reinstall)
    env = remote.call(["doctor"])["env"]
    problems = readiness(remote, env, target.backend if target else None)
    doctor = None
    if target is not None and not problems:  # edgenas doctor: a tiny model on the target's runtime
        doctor = remote.call(["doctor"], payload=target.to_dict())["doctor"]
        problems += doctor["failures"]
    return {"env": env, "doctor": doctor, "workdir": remote.workdir, "lib": remote.lib,
            "transfer": remote.conn.transfer_tool(), "ready": not problems, "problems": problems}


def _profile_spec(entry: BoardEntry, bundle_dir: Path, out: Path, target, seed: int) -> JobSpec:
    from ..latency.board import load_manifest
    from ..latency.table import LatencyTable

    manifest = load_manifest(bundle_dir)
    planned = manifest["target"]
    if planned["precision"] != target.precision:
        raise EdgenasError("bundle {} was planned for {} ({}) but board '{}' profiles target '{}' ({}); plan a bundle for "
                           "that target".format(bundle_dir, planned["precision"], planned["name"], entry.name,
                                                target.name, target.precision))
    rels = [o["file"] for o in manifest["ops"]] + [n["file"] for n in manifest["networks"]]
    rels += [manifest["overhead"]["file"], "manifest.json"]
    inputs: Dict[str, Any] = {"bundle/" + r: Path(bundle_dir) / r for r in rels}
    inputs["target.json"] = json.dumps(target.to_dict(), indent=1, sort_keys=True).encode()
    return JobSpec(title="{}: profile {}".format(entry.name, target.name),
                   key={"kind": "profile", "bundle": manifest["sha256"], "target": target.sha256, "out": out.name,
                        "seed": seed},
                   inputs=inputs, outputs={"table.json": out}, verify=LatencyTable.load, unit="item-rounds",
                   argv=["profile", "bundle", "--target-json", "target.json", "--out", "table.json",
                         "--progress", "progress.jsonl", "--seed", str(seed)])


def _target_for(entry: BoardEntry, bundle_dir: Path, target):
    from ..latency.board import load_manifest
    from ..targets import load_target, target_from_dict

    if target is not None and not isinstance(target, str):
        return target
    name = target or entry.target
    if name:
        return load_target(name)
    return target_from_dict(load_manifest(bundle_dir)["target"], where="bundle manifest target")


def profile_one(entry: BoardEntry, bundle_dir, out_path, target=None, accept_new_host_key: bool = False,
                show_progress: bool = True, fresh: bool = False, seed: int = 0,
                max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> JobResult:
    bundle_dir, out_path = Path(bundle_dir), Path(out_path)
    spec_target = _target_for(entry, bundle_dir, target)
    spec = _profile_spec(entry, bundle_dir, out_path, spec_target, seed)
    remote = connect(entry, accept_new_host_key)
    problems = readiness(remote, remote.call(["doctor"])["env"], spec_target.backend)
    if problems:
        raise EdgenasError("board '{}' cannot profile {}: {}".format(entry.name, spec_target.name, "; ".join(problems)))
    return run_job(remote, spec, fresh=fresh, show_progress=show_progress, max_upload_bytes=max_upload_bytes)


def remote_profile(boards: Union[BoardArg, Sequence[BoardArg]], bundle_dir, out_paths, target=None,
                   accept_new_host_key: bool = False, show_progress: bool = True, fresh: bool = False, seed: int = 0,
                   max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> List[Path]:
    """Profile an ops bundle on one or more boards over SSH, in parallel; one latency table per board.

    ``boards``: names ("orin", ["orin", "xavier"] or "orin,xavier") or BoardEntry objects.
    ``bundle_dir``: one planned bundle for all boards, or a list (one per board).
    ``out_paths``: one path per board (a single path is accepted for a single board).
    ``target``: a target name, YAML path or Target; default each board's target, else the bundle's.
    Re-running the same call re-attaches to running remote jobs or resumes interrupted ones.
    Returns the table paths; raises one EdgenasError naming every board that failed (after the
    others have finished and written their tables).
    """
    entries = resolve_boards(boards)
    bundles = list(bundle_dir) if isinstance(bundle_dir, (list, tuple)) else [bundle_dir] * len(entries)
    outs = [out_paths] if isinstance(out_paths, (str, Path)) else list(out_paths)
    if len(bundles) != len(entries) or len(outs) != len(entries):
        raise EdgenasError("{} boards need {} bundle dirs and out paths; got {} and {}".format(
            len(entries), len(entries), len(bundles), len(outs)))
    if len({str(Path(o).resolve()) for o in outs}) != len(outs):
        raise EdgenasError("two boards would write the same table; give one out path per board")

    def one(i: int) -> Path:
        return profile_one(entries[i], bundles[i], outs[i], target, accept_new_host_key, show_progress, fresh, seed,
                           max_upload_bytes).outputs["table.json"]

    if len(entries) == 1:
        return [one(0)]
    with ThreadPoolExecutor(max_workers=len(entries)) as pool:
        futures = [pool.submit(one, i) for i in range(len(entries))]
    done, failed = [], []
    for f in futures:
        err = f.exception()
        if err is None:
            done.append(f.result())
        elif isinstance(err, EdgenasError):
            failed.append(str(err))
        else:
            raise err
    if failed:
        wrote = "; wrote {}".format(", ".join(str(p) for p in done)) if done else ""
        raise EdgenasError("{} of {} boards failed: {}{}".format(len(failed), len(entries), " | ".join(failed), wrote))
    return done


def remote_for(board: BoardArg, accept_new_host_key: bool = False) -> Remote:
    """A connected board with this edgenas installed: the handle phase-2 callers pass to ``run_job``."""
    return connect(resolve_boards(board)[0], accept_new_host_key)


def board_jobs(board: BoardArg, accept_new_host_key: bool = False) -> List[Dict[str, Any]]:
    return remote_for(board, accept_new_host_key).call(["jobs"])


def clean_board(board: BoardArg, everything: bool = False, kill: bool = False,
                accept_new_host_key: bool = False) -> Dict[str, Any]:
    """Remove the board's jobs, uploads and file store (``everything``: also the installed package)."""
    remote = remote_for(board, accept_new_host_key)
    out = remote.call(["clean"] + (["--all"] if everything else []) + (["--kill"] if kill else []))
    out["workdir"] = remote.workdir
    if out.get("kept"):
        sys.stderr.write("edgenas: {}: kept running jobs {}; stop them with --kill\n".format(
            remote.board.name, ", ".join(out["kept"])))
    return out
