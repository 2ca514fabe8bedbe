"""Where host-side torch work runs: ``--device auto|cpu|cuda|cuda:N``, mixed precision and torchrun.

Host side only (imports torch lazily). ``auto`` picks CUDA when torch sees a GPU and says so once.
"""

import os
import sys
from contextlib import nullcontext
from typing import Any, Optional, Tuple

from ..errors import EdgenasError

_SAID = set()
_CUDA_HINT = ("this torch is a CPU build or sees no GPU; install a CUDA build of torch (pip install torch --index-url "
              "https://download.pytorch.org/whl/cu126, matching your driver) or use --device cpu")


def resolve_device(spec: Optional[str] = "auto", quiet: bool = False):
    """A ``torch.device`` for ``spec``; under torchrun each process takes cuda:LOCAL_RANK."""
    import torch

    spec = (spec or "auto").strip().lower()
    local = os.environ.get("LOCAL_RANK")
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
        if spec == "cuda" and not quiet and "auto" not in _SAID and local in (None, "0"):
            _SAID.add("auto")
            sys.stderr.write("edgenas: --device auto: using CUDA ({})\n".format(torch.cuda.get_device_name(0)))
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise EdgenasError("--device {}: CUDA is not available: {}".format(spec, _CUDA_HINT))
        index = int(local) if spec == "cuda" and local is not None else (int(spec[5:]) if ":" in spec else 0)
        if not 0 <= index < torch.cuda.device_count():
            raise EdgenasError("--device {}: this machine has {} CUDA device(s) (cuda:0..cuda:{})".format(
                spec, torch.cuda.device_count(), torch.cuda.device_count() - 1))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    raise EdgenasError("--device '{}' is not a device; use auto, cpu, cuda or cuda:N".format(spec))


def resolve_amp(amp: str, device) -> Optional[Any]:
    """The autocast dtype for ``amp`` (auto|off|bf16|fp16) on ``device``: None means full fp32."""
    import torch

    amp = (amp or "off").lower()
    if amp not in ("auto", "off", "bf16", "fp16"):
        raise EdgenasError("--amp '{}': choose auto, off, bf16 or fp16".format(amp))
    if amp == "off" or device.type != "cuda":
        if amp in ("bf16", "fp16") and device.type != "cuda":
            raise EdgenasError("--amp {} needs a CUDA device; use --amp off on the CPU".format(amp))
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "bf16" and not torch.cuda.is_bf16_supported():
        raise EdgenasError("--amp bf16: this GPU has no bf16; use --amp fp16")
    return torch.bfloat16 if amp == "bf16" else torch.float16


def autocast(device, dtype):
    import torch

    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else nullcontext()


def grad_scaler(device, dtype):
    """A GradScaler for fp16 autocast (bf16 needs none)."""
    import torch

    if dtype is not None and dtype == torch.float16:
        return torch.amp.GradScaler("cuda")
    return None


def distributed() -> Tuple[int, int]:
    """(rank, world size) of a torchrun launch, 0/1 otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_distributed(device) -> Tuple[int, int]:
    """Join the torchrun process group (nccl on GPUs, gloo on CPUs); (rank, world)."""
    rank, world = distributed()
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()
