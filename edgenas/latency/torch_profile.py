"""Profile a space on a CUDA GPU where PyTorch is the deployment runtime (a ``torch`` target such as
gpu-torch-fp16): every op and the reference networks are built as torch modules at the target's
precision, captured into CUDA graphs and timed by graph replays between CUDA events, through the same
interleaved, resumable protocol, calibration and table format as the ONNX bundles."""

import time
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict

from .._version import __version__
from ..util.io import sha256_json
from ..util.progress import progress
from .board import _Tracked, _load_partial, build_table, finish_table
from .table import LatencyTable


def torch_manifest(space, target, n_networks: int, seed: int) -> Dict[str, Any]:
    """What an ops bundle's manifest would hold, for modules built in memory instead of ONNX files."""
    import torch

    from .bundle import reference_genotypes

    ops = []
    for key in space.all_ops():
        params, macs = space.op_cost(key)
        ops.append({"key": key, "params": params, "macs": macs, "input": list(space.op_input_shape(key))})
    nets = []
    for j, g in enumerate(reference_genotypes(space, n_networks, seed)):
        arch = space.decode(g)
        nets.append({"name": "ref{:02d}".format(j), "arch": space.to_string(arch), "ops": space.ops(arch)})
    m = {"schema": "edgenas.torch_profile/1", "edgenas": __version__, "target": target.to_dict(), "space": space.describe(),
         "resolution": space.resolution, "precision": target.precision, "ops": ops, "networks": nets,
         "export": {"runtime": "torch", "torch": torch.__version__, "cuda": torch.version.cuda,
                    "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}}
    m["sha256"] = sha256_json(m)
    m["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return m


class _ModulePool:
    """Captured graphs for the items being timed, at most ``max_active`` at once."""

    def __init__(self, builders, target, seed: int) -> None:
        from ..backends.pytorch import TorchCudaRunner

        self.builders, self.target, self.seed = builders, target, seed
        self.device = "cuda" if target.board.kind == "gpu" else "cpu"
        self.cls = TorchCudaRunner
        self.active: "OrderedDict[str, Any]" = OrderedDict()

    def acquire(self, name: str):
        if name in self.active:
            self.active.move_to_end(name)
            return self.active[name][1]
        while len(self.active) >= self.cls.max_active:
            self.active.popitem(last=False)[1][0].deactivate()
        fn, shape = self.builders[name]
        r = self.cls(fn, shape, precision=self.target.precision, name=name, device=self.device)
        r.activate()
        call = r.timed_call(r.random_feed(self.seed))
        self.active[name] = (r, call)
        return call

    def close(self) -> None:
        while self.active:
            self.active.popitem(last=False)[1][0].deactivate()


def profile_torch(space, target, out, n_networks: int = 32, seed: int = 0, show_progress: bool = True) -> LatencyTable:
    import torch

    from ..runtime.timing import measure_interleaved
    from ..util.io import atomic_write_json
    from ..errors import EdgenasError

    on_gpu = target.board.kind == "gpu"
    if on_gpu and not torch.cuda.is_available():
        raise EdgenasError("target '{}' times ops with torch on a CUDA GPU; this machine has none (torch {}); run it on the "
                           "GPU server".format(target.name, torch.__version__))
    torch.backends.cudnn.benchmark = True
    manifest = torch_manifest(space, target, n_networks, seed)
    out = Path(out)
    partial = out.with_name(out.name + ".partial.json")
    protocol = target.protocol
    ident = {"bundle_sha256": manifest["sha256"], "target_sha256": target.sha256, "protocol": protocol.__dict__}
    samples, before = _load_partial(partial, ident)
    builders = {"overhead": (lambda: _Overhead(), tuple(space.input_shape()))}
    builders.update({"op:" + o["key"]: ((lambda k=o["key"]: space.build_op(k)), tuple(o["input"])) for o in manifest["ops"]})
    builders.update({"net:" + n["name"]: ((lambda a=n["arch"]: space.build(space.from_string(a))), tuple(space.input_shape()))
                     for n in manifest["networks"]})
    pool = _ModulePool(builders, target, seed)
    t0 = time.time()

    def checkpoint(s):
        atomic_write_json(partial, dict(ident, elapsed_s=before + time.time() - t0, samples=s), indent=None)

    with progress(len(builders) * protocol.rounds, "profile {}".format(target.name), "item-rounds",
                  disable=not show_progress) as bar:
        bar.update(sum(len(v) for v in samples.values()))
        try:
            samples = measure_interleaved({k: None for k in builders}, protocol, samples, seed=seed, checkpoint=checkpoint,
                                          bar=_Tracked(bar, None, 0), acquire=pool.acquire)
        finally:
            pool.close()
    from ..backends.pytorch.runner import EAGER_METHOD, graph_timing

    timer = ({"method": "cuda-graph replay (torch.cuda.CUDAGraph), CUDA events" if graph_timing() else EAGER_METHOD,
              "inner": 20, "cudnn_benchmark": True, "channels_last": True}
             if on_gpu else {"method": "perf_counter (CPU, eager)", "inner": 20})
    table = build_table(manifest, target, protocol, samples, before + time.time() - t0, timer)
    if on_gpu:
        table.header["gpu"] = {"name": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
                               "capability": "{}.{}".format(*torch.cuda.get_device_capability(0))}
    return finish_table(table, out, partial, protocol)


class _Overhead:
    """One tiny kernel: the fixed cost of launching a graph, subtracted from every op's time."""

    def __new__(cls):
        import torch

        class Overhead(torch.nn.Module):
            def forward(self, x):
                return x + 0

        return Overhead()
