"""edgenas: hardware-aware NAS, compression and on-device validation for edge boards.

Importing the package is cheap: torch, onnx and TensorRT are imported only by the modules that need them.
"""

__version__ = "0.1.0"
