"""ONNX Runtime backend: sessions on the target's execution providers."""

from .runner import OrtRunner

__all__ = ["OrtRunner"]
