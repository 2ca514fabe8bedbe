"""PyTorch-on-CUDA backend, for GPU servers (T4 / A10 / H100) where PyTorch itself is the deployment
runtime: modules run at the target's precision and are timed as CUDA-graph replays. Host side: torch."""

from .runner import TorchCudaRunner

__all__ = ["TorchCudaRunner"]
