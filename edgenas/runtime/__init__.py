"""What every backend shares: the Runner interface, noise-managed timing and the device fingerprint.
Board side: numpy only, never torch."""

from .base import Runner

__all__ = ["Runner"]
