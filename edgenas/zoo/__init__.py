"""A zoo of public architectures in plain torch, for profiling and quantizing "your own model" without
weights or downloads: ResNet-18/-50, MobileNetV2, MobileNetV3-Small/-Large, EfficientNet-B0, RegNetY-400MF,
SqueezeNet 1.0 (torchvision's layouts and layer names, so ONNX node names match a torchvision export), an
SSDlite-style two-output detector and a YOLO-style three-head detector (host side: needs torch).

torchvision is used for the classifiers where it imports (GPU hosts); beside this CPU torch it does not,
and the plain definitions here stand in. Untrained weights are not realistic for INT8: a fresh BatchNorm
(mean 0, var 1) leaves activations badly scaled, so ``randomize_bn`` gives every BatchNorm random affine
parameters and the running statistics it really sees on random images.

    from edgenas.zoo import export
    export("resnet18", "resnet18.onnx")      # 1x3x224x224, realistic BatchNorm, opset 17
"""

import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import EdgenasError, unknown

# name -> (module:function, output names, torchvision name or None)
_MODELS: Dict[str, Tuple[str, List[str], Optional[str]]] = {
    "resnet18": ("resnet:resnet18", ["logits"], "resnet18"),
    "resnet50": ("resnet:resnet50", ["logits"], "resnet50"),
    "mobilenet_v2": ("mobilenet:mobilenet_v2", ["logits"], "mobilenet_v2"),
    "mobilenet_v3_small": ("mobilenet:mobilenet_v3_small", ["logits"], "mobilenet_v3_small"),
    "mobilenet_v3_large": ("mobilenet:mobilenet_v3_large", ["logits"], "mobilenet_v3_large"),
    "efficientnet_b0": ("efficientnet:efficientnet_b0", ["logits"], "efficientnet_b0"),
    "regnet_y_400mf": ("efficientnet:regnet_y_400mf", ["logits"], "regnet_y_400mf"),
    "squeezenet1_0": ("efficientnet:squeezenet1_0", ["logits"], "squeezenet1_0"),
    "ssdlite_mobilenet_v3_large": ("detect:ssdlite_mobilenet_v3_large", ["bbox_regression", "cls_logits"], None),
    "yolo_s": ("detect:yolo_s", ["p3", "p4", "p5"], None),
}


def list_models() -> List[str]:
    return sorted(_MODELS)


def output_names(name: str) -> List[str]:
    _check(name)
    return list(_MODELS[name][1])


def _check(name: str) -> None:
    if name not in _MODELS:
        raise unknown("zoo model", name, _MODELS, "list them with edgenas.zoo.list_models()")


def _torchvision(tv_name: str) -> Optional[Callable]:
    try:
        import torchvision.models as tvm  # beside a CPU torch it fails: "operator torchvision::nms does not exist"
    except Exception:
        return None
    return getattr(tvm, tv_name, None)


def build(name: str, num_classes: Optional[int] = None, prefer: str = "auto"):
    """The untrained model ``name`` (eval mode). ``prefer``: 'auto' (torchvision where it imports, else the
    plain definition), 'plain' or 'torchvision'. The model's ``zoo_source`` says which was used."""
    import importlib

    _check(name)
    if prefer not in ("auto", "plain", "torchvision"):
        raise EdgenasError("prefer must be auto, plain or torchvision, not '{}'".format(prefer))
    target, _, tv_name = _MODELS[name]
    kw = {} if num_classes is None else {"num_classes": int(num_classes)}
    fn = _torchvision(tv_name) if tv_name and prefer != "plain" else None
    if fn is None and prefer == "torchvision":
        raise EdgenasError("torchvision does not import here (or has no '{}'); use prefer='plain'".format(name))
    source = "torchvision"
    if fn is None:
        mod, func = target.split(":")
        fn, source = getattr(importlib.import_module(__name__ + "." + mod), func), "edgenas.zoo"
    model = fn(weights=None, **kw) if source == "torchvision" else fn(**kw)
    model.zoo_source = source
    return model.eval()


def randomize_bn(model, seed: int = 0, input_shape: Sequence[int] = (4, 3, 224, 224), batches: int = 2):
    """Give every BatchNorm random affine parameters (gamma ~ U(0.5, 1.5), beta ~ N(0, 0.2)) and the running
    mean/variance it really sees on ``batches`` random-normal batches, so activations have realistic scales
    (trained networks look like this; fresh BatchNorm does not). Deterministic for a seed; returns the model."""
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(int(seed))
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    with torch.no_grad():
        for m in bns:
            if m.affine:
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches below
        model.train()
        for _ in range(max(1, int(batches))):
            model(torch.randn(*input_shape, generator=g))
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    return model.eval()


def export_module(model, path, input_shape: Sequence[int] = (1, 3, 224, 224), input_names: Sequence[str] = ("input",),
                  output_names: Sequence[str] = ("output",), opset: int = 17, dynamic_axes=None) -> Path:
    """Export a torch module to ONNX at ``path`` (atomically; TorchScript exporter, weights inside the file,
    node names carry the module path, e.g. ``/layer1/layer1.0/conv1/Conv``)."""
    import onnx
    import torch

    model = model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=str(path.parent))
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.randn(*input_shape),), tmp, dynamo=False, opset_version=opset,
                              input_names=list(input_names), output_names=list(output_names),
                              dynamic_axes=dynamic_axes, do_constant_folding=True)
        onnx.checker.check_model(tmp)
        os.replace(tmp, str(path))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def export(name: str, path, resolution: int = 224, seed: int = 0, opset: int = 17, num_classes: Optional[int] = None,
           prefer: str = "auto") -> Path:
    """Build zoo model ``name``, randomize its BatchNorm (``seed``) and export it at 1x3xRxR to ``path``."""
    import torch

    if not isinstance(resolution, int) or not 16 <= resolution <= 2048:
        raise EdgenasError("resolution must be an integer in 16..2048, not {!r}".format(resolution))
    torch.manual_seed(int(seed))
    model = build(name, num_classes, prefer)
    randomize_bn(model, seed, (4, 3, resolution, resolution))
    return export_module(model, path, (1, 3, resolution, resolution), ("input",), output_names(name), opset)
