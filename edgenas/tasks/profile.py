"""Profile a board: plan an ops bundle (host), time it (board), or both on this machine."""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..backends.registry import get_backend
from ..util.checks import check, output_dir, output_path
from .common import PathLike, as_space, as_target


@dataclass
class BundleResult:
    bundle: Path
    ops: int
    networks: int
    seconds: float
    manifest: Dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class ProfileResult:
    table: Path
    entries: int
    seconds: float
    calibration_loo_mape_pct: float
    noise_p90_pct: float
    latency_table: Any = field(repr=False, default=None)
    board: Optional[str] = None  # the board it was measured on over SSH (profile(board=...)), else None

    def summary(self) -> List[str]:
        return self.latency_table.summary()


def _result(table, seconds: float, board: Optional[str] = None) -> ProfileResult:
    h = table.header
    return ProfileResult(Path(table.path), len(table.entries), round(seconds, 1), h["calibration"]["loo_mape_pct"],
                         h["noise"]["p90_noise_pct"], table, board)


def plan_bundle(target, bundle: PathLike, space="mbv3-small", resolution: Optional[int] = None,
                space_options: Optional[Dict[str, Any]] = None, networks: int = 32, seed: int = 0,
                progress: bool = True, precision: Optional[str] = None) -> BundleResult:
    """Host: write the ops bundle (one ONNX per op, reference networks, overhead probe, manifest);
    ``precision='mixed'`` plans a mixed-precision bundle."""
    space, resolution, space_options = _space_args(space, resolution, space_options, precision, networks, seed)
    from ..latency.bundle import plan_bundle as plan

    t, s = as_target(target), as_space(space, resolution, space_options)
    output_dir(bundle, "bundle folder")
    t0 = time.time()
    m = plan(s, t, bundle, n_networks=networks, seed=seed, show_progress=progress)
    return BundleResult(Path(bundle), len(m["ops"]), len(m["networks"]), round(time.time() - t0, 1), m)


def profile_bundle(bundle: PathLike, target, out: PathLike, seed: int = 0, progress: bool = True,
                   max_active: Optional[int] = None, on_progress=None) -> ProfileResult:
    """Board: time every file of a bundle on ``target``'s runtime into a latency table (resumable)."""
    from ..latency.board import load_manifest, profile_bundle as run
    from ..targets import target_from_dict
    from ..errors import EdgenasError

    check("seed", seed)
    check("max_active", max_active)
    output_path(out, "latency table")
    try:
        t = as_target(target)
    except EdgenasError:
        # A board may lack PyYAML or the targets/ folder: the bundle carries its planned target.
        manifest = load_manifest(bundle)
        if str(target) != manifest["target"]["name"]:
            raise
        t = target_from_dict(manifest["target"], where="bundle manifest target")
    t0 = time.time()
    table = run(bundle, t, out, seed=seed, show_progress=progress, max_active=max_active, on_progress=on_progress)
    return _result(table, time.time() - t0)


def default_bundle_dir(space, target, networks: int = 32, seed: int = 0) -> Path:
    """Where a bundle is planned by default, keyed by everything its files depend on (not the board or the
    target's name, so targets that share a backend and precision share one bundle): the space (its hash
    covers the resolution), backend, precision, Q/DQ flavour and quantization settings, networks, seed
    (hashed into the folder name's last part).
    ``edgenas profile`` here and on boards (``--board``) both use it."""
    from ..compress.qdq import qdq_flavour
    from ..util.io import sha256_json

    key = sha256_json({"space": space.sha256, "backend": target.backend, "precision": target.precision,
                       "flavour": qdq_flavour(target) if target.precision == "int8" else None,
                       "quantization": target.to_dict().get("quantization"), "networks": networks, "seed": seed})
    return Path(".edgenas") / "bundles" / "{}-r{}-{}-{}-{}".format(space.name, space.resolution, target.backend,
                                                                    target.precision, key[:10])


def profile(target, out: PathLike, space="mbv3-small", resolution: Optional[int] = None,
            space_options: Optional[Dict[str, Any]] = None, networks: int = 32, bundle: Optional[PathLike] = None,
            seed: int = 0, progress: bool = True, board=None, accept_new_host_key: bool = False, fresh: bool = False,
            max_upload_mb: float = 2048.0, precision: Optional[str] = None):
    """Plan the bundle and time it on this machine: the whole table in one call. A ``torch`` target
    (a GPU running PyTorch) times the ops directly with CUDA graphs instead of through a bundle.

    ``board``: time it on a board over SSH instead (a name from ``edgenas board list``, "orin,xavier" or a
    list; several run in parallel). The bundle is planned here as above and uploaded by content hash;
    ``target`` may be None to use each board's own target; ``out`` may hold ``{board}``, else several
    boards write ``T.<board>.json``. Running the same call again re-attaches to the remote jobs (``fresh``
    measures again). Returns a ProfileResult for one board, a list (in board order) for several.

    ``precision='mixed'`` (ONNX Runtime int8 targets): a mixed table for precision-aware search: every op
    at int8 and at fp32, the precision-boundary ops per tensor shape, and mixed reference networks."""
    space, resolution, space_options = _space_args(space, resolution, space_options, precision, networks, seed)
    if board is not None:
        return _profile_on_boards(board, target, out, space, resolution, space_options, networks, bundle, seed, progress,
                                  accept_new_host_key, fresh, max_upload_mb)
    t, s = as_target(target), as_space(space, resolution, space_options)
    output_path(out, "latency table")
    t0 = time.time()
    if not get_backend(t.backend).profiles_bundles:  # timed from its own modules, not an ONNX ops bundle
        from ..latency.torch_profile import profile_torch

        table = profile_torch(s, t, out, n_networks=networks, seed=seed, show_progress=progress)
        return _result(table, time.time() - t0)
    from ..latency.board import profile_bundle as run
    from ..latency.bundle import plan_bundle as plan

    b = Path(bundle) if bundle else default_bundle_dir(s, t, networks, seed)
    plan(s, t, b, n_networks=networks, seed=seed, show_progress=progress)  # reuses files planned with the same spec
    table = run(b, t, out, seed=seed, show_progress=progress)
    table.header["total_time_s"] = round(time.time() - t0, 1)
    table.save(out)
    return _result(table, time.time() - t0)


def _profile_on_boards(board, target, out, space, resolution, space_options, networks, bundle, seed, progress,
                       accept_new_host_key, fresh, max_upload_mb):
    from ..board.api import board_out_paths, remote_profile, resolve_boards
    from ..errors import EdgenasError
    from ..latency.table import LatencyTable

    cap = check("max_upload_mb", max_upload_mb)
    entries = resolve_boards(board)
    outs = board_out_paths(out, [e.name for e in entries])
    for o in outs:
        output_path(o, "latency table")
    t0 = time.time()
    if bundle and (Path(bundle) / "manifest.json").is_file():
        bundles = [Path(bundle)] * len(entries)  # planned already (elsewhere, perhaps): used as it is
    else:
        bundles = []
        s = as_space(space, resolution, space_options)
        for e in entries:
            if target is None and not e.target:
                raise EdgenasError("board '{}' has no target; pass one (--target) or set it: edgenas board add {} {} "
                                   "--target T --force".format(e.name, e.name, e.url))
            t = as_target(target if target is not None else e.target)
            if not get_backend(t.backend).profiles_bundles:
                raise EdgenasError("target '{}' times its backend's own modules on the machine itself; run edgenas profile "
                                   "--target {} on that machine (boards time ONNX ops bundles)".format(t.name, t.name))
            b = Path(bundle) if bundle else default_bundle_dir(s, t, networks, seed)
            if b not in bundles:
                from ..latency.bundle import plan_bundle as plan

                plan(s, t, b, n_networks=networks, seed=seed, show_progress=progress)  # reuses planned files
            bundles.append(b)
    tables = remote_profile(entries, bundles, outs, target=target, accept_new_host_key=accept_new_host_key,
                            show_progress=progress, fresh=fresh, seed=seed, max_upload_bytes=int(cap * 2 ** 20))
    results = [_result(LatencyTable.load(p), time.time() - t0, e.name) for e, p in zip(entries, tables)]
    return results[0] if len(results) == 1 else results


def _space_args(space, resolution, space_options, precision, networks, seed):
    """Checked (space, resolution, space_options) for planning: the space itself, or for
    ``precision='mixed'`` its mixed-precision wrapper (which already carries resolution and options)."""
    check("networks", networks)
    check("seed", seed)
    check("resolution", resolution)
    if precision is None:
        return space, resolution, space_options
    from ..errors import EdgenasError
    from ..space.mixed import MixedSpace

    if precision != "mixed":
        raise EdgenasError("precision '{}': profile the target's own precision (leave it out) or 'mixed'".format(precision))
    return MixedSpace(as_space(space, resolution, space_options)), None, None
