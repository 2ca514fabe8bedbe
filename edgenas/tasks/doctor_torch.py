"""``edgenas doctor`` for torch targets (a GPU server where PyTorch itself is the runtime, e.g.
gpu-torch-fp16): torch and its CUDA build, the GPU, its memory and clocks, then a tiny network at the
target's precision captured into a CUDA graph, timed by replays and compared with the same network in
FP32 on the CPU. torch is imported here only, lazily (the board-side doctor needs none)."""

import time
from typing import Callable, List, Optional

import numpy as np


def _tiny_module():
    """The doctor's tiny network in plain torch: Conv-BN-ReLU, a residual depthwise block with hardswish,
    pooling and a classifier; the same weights on every call."""
    import torch
    import torch.nn as nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
            self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.Hardswish(),
                                    nn.Conv2d(16, 16, 1, bias=False), nn.BatchNorm2d(16))
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

        def forward(self, x):
            x = self.stem(x)
            return self.head(x + self.dw(x))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        m = Tiny()
        for bn in (x for x in m.modules() if isinstance(x, nn.BatchNorm2d)):  # statistics a trained net could have
            nn.init.uniform_(bn.running_mean, -0.5, 0.5)  # type: ignore[arg-type]
            nn.init.uniform_(bn.running_var, 0.5, 2.0)  # type: ignore[arg-type]
    return m.eval()


def torch_checks(target, checks: List, check_cls, try_: Callable, compare: Callable, inputs: np.ndarray) -> None:
    """Append the torch target's checks to ``checks`` (``check_cls`` is doctor.Check, ``try_`` doctor._try,
    ``compare`` doctor._compare; ``inputs`` the doctor's images)."""
    Check = check_cls
    try:
        import torch
    except ImportError:
        checks.append(Check("torch", "fail", "not installed", "pip install torch (the build matching the CUDA driver)"))
        return
    checks.append(Check("torch", "ok", "{} (CUDA build: {})".format(torch.__version__, torch.version.cuda or "none, a CPU build")))
    if not torch.cuda.is_available():
        checks.append(Check("cuda", "fail", "torch {} sees no CUDA GPU".format(torch.__version__),
                            "install a CUDA build of torch matching the driver (check nvidia-smi), or use a CPU target"))
        return
    from ..runtime.device import nvidia_smi

    free, total = torch.cuda.mem_get_info()
    checks.append(Check("gpu", "ok", "{} (compute capability {}.{}, {} GPU(s) visible)".format(
        torch.cuda.get_device_name(0), *torch.cuda.get_device_capability(0), torch.cuda.device_count())))
    low = free < (512 << 20)
    checks.append(Check("gpu memory", "warn" if low else "ok", "{} MiB free of {} MiB".format(free >> 20, total >> 20),
                        "close other GPU programs before profiling" if low else ""))
    smi = nvidia_smi()
    if smi:
        throttled = smi.get("throttle_reasons") not in (None, "0x0000000000000000", "0x0000000000000001", "Not Active")
        lock = target.board.lock_clocks or "lock the GPU clocks"
        checks.append(Check("clocks", "warn" if throttled else "ok", "SM {} of max {}, throttle reasons {}, driver {}".format(
            smi.get("sm_clock"), smi.get("sm_clock_max"), smi.get("throttle_reasons"), smi.get("driver")),
            "run: " + lock if throttled else ""))
    min_cos = 0.9999 if target.precision == "fp32" else 0.995
    try_(checks, "run", lambda: _run(target, inputs, min_cos, checks, Check, compare))


def _run(target, inputs: np.ndarray, min_cosine: float, checks: List, Check, compare) -> Optional[object]:
    """Run, time and compare the tiny network; returns the comparison check (doctor._try appends it)."""
    import torch

    from ..backends.pytorch import TorchCudaRunner
    from ..runtime.timing import stats, time_calls
    from ..validation.compare import run_batched

    t0 = time.time()
    x = np.ascontiguousarray(inputs, dtype=np.float32)
    with torch.no_grad():
        ref = _tiny_module()(torch.from_numpy(x)).numpy()
    r = TorchCudaRunner(_tiny_module, (1,) + tuple(x.shape[1:]), precision=target.precision, device="cuda", name="tiny")
    try:
        r.activate()
        out = run_batched(r, x, 1)
        call = r.timed_call(r.random_feed())
        ms = stats([time_calls(call, 20) for _ in range(3)])["median_ms"]
    finally:
        r.deactivate()
    checks.append(Check("run tiny (torch)", "ok", "torch {} on {}: {:.4f} ms per inference ({}), ready in {:.1f} s".format(
        target.precision, torch.cuda.get_device_name(0), ms, r.timing.get("method"), time.time() - t0)))
    return compare(out, ref, min_cosine)
