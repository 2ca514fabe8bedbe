"""Once-for-All style weight-sharing supernet for the MobileNetV3-style spaces.

One set of weights holds every subnet: kernels are centre crops of the largest kernel, expand ratios
take the first channels, depth takes the first layers of a stage, SE and the activation are switched
per layer. BatchNorm statistics are sliced views, so updating them in training updates the shared
buffers (as in OFA's DynamicBatchNorm), and they are re-calibrated before any subnet is evaluated.
"""

from typing import Any, Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..space.blocks import make_divisible
from ..space.mbv3 import MBV3Space
from ..space.mbv3_torch import ConvBNAct, Head

_ACT = {"re": F.relu, "hs": F.hardswish}


def _bn(x, bn: nn.BatchNorm2d, c: int):
    return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c], bn.training,
                        bn.momentum, bn.eps)


class DynamicIR(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, kernels: List[int], expands: List[int]) -> None:
        super().__init__()
        self.cin, self.cout, self.stride = cin, cout, stride
        self.k_max = max(kernels)
        mid = make_divisible(cin * max(expands))
        sq = make_divisible(mid // 4)
        self.expand_w = nn.Parameter(torch.empty(mid, cin, 1, 1))
        self.expand_bn = nn.BatchNorm2d(mid)
        self.dw_w = nn.Parameter(torch.empty(mid, 1, self.k_max, self.k_max))
        self.dw_bn = nn.BatchNorm2d(mid)
        self.se_fc1 = nn.Conv2d(mid, sq, 1)
        self.se_fc2 = nn.Conv2d(sq, mid, 1)
        self.project_w = nn.Parameter(torch.empty(cout, mid, 1, 1))
        self.project_bn = nn.BatchNorm2d(cout)
        for w in (self.expand_w, self.dw_w, self.project_w):
            nn.init.kaiming_normal_(w, mode="fan_out")

    def forward(self, x, k: int, e: int, act: str, se: bool, fq=None):
        """One subnet layer; with ``fq`` (a FakeQuant) it runs as its INT8 Q/DQ deployment would."""
        mid = make_divisible(self.cin * e)
        a = _ACT[act]
        q_in = (lambda t, p: fq.act((id(self), p), t)) if fq is not None else (lambda t, p: t)
        q_w = fq.weight if fq is not None else (lambda w: w)
        h = a(_bn(F.conv2d(q_in(x, "in"), q_w(self.expand_w[:mid])), self.expand_bn, mid))
        off = (self.k_max - k) // 2
        w = self.dw_w[:mid, :, off:off + k, off:off + k]
        h = a(_bn(F.conv2d(q_in(h, "dw"), q_w(w), None, self.stride, k // 2, 1, mid), self.dw_bn, mid))
        if se:
            sq = make_divisible(mid // 4)
            s = h.mean((2, 3), keepdim=True)
            s = F.relu(F.conv2d(s, self.se_fc1.weight[:sq, :mid], self.se_fc1.bias[:sq]))
            h = h * F.hardsigmoid(F.conv2d(s, self.se_fc2.weight[:mid, :sq], self.se_fc2.bias[:mid]))
        y = _bn(F.conv2d(q_in(h, "project"), q_w(self.project_w[:, :mid])), self.project_bn, self.cout)
        return x + y if self.stride == 1 and self.cin == self.cout else y

    def export_to(self, block: nn.Module, k: int, e: int, se: bool) -> None:
        """Copy this layer's (k, e, se) slice into a standalone ``InvertedResidual``."""
        mid = make_divisible(self.cin * e)
        off = (self.k_max - k) // 2
        with torch.no_grad():
            block.expand[0].weight.copy_(self.expand_w[:mid])
            _copy_bn(block.expand[1], self.expand_bn, mid)
            block.dw[0].weight.copy_(self.dw_w[:mid, :, off:off + k, off:off + k])
            _copy_bn(block.dw[1], self.dw_bn, mid)
            if se:
                sq = make_divisible(mid // 4)
                block.se.fc1.weight.copy_(self.se_fc1.weight[:sq, :mid])
                block.se.fc1.bias.copy_(self.se_fc1.bias[:sq])
                block.se.fc2.weight.copy_(self.se_fc2.weight[:mid, :sq])
                block.se.fc2.bias.copy_(self.se_fc2.bias[:mid])
            block.project[0].weight.copy_(self.project_w[:, :mid])
            _copy_bn(block.project[1], self.project_bn, self.cout)


def _copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, c: int) -> None:
    dst.weight.copy_(src.weight[:c])
    dst.bias.copy_(src.bias[:c])
    dst.running_mean.copy_(src.running_mean[:c])
    dst.running_var.copy_(src.running_var[:c])


class Supernet(nn.Module):
    def __init__(self, space: MBV3Space) -> None:
        super().__init__()
        self.space = space
        c = space.config
        from ..space.blocks import parse_block

        _, sf = parse_block(space.stem_key)
        self.stem = ConvBNAct(sf["i"], sf["o"], sf["k"], sf["s"], act=nn.ReLU() if sf.get("re") else nn.Hardswish())
        self.stages = nn.ModuleList()
        for cin, cout, stride, _, _ in space.stage_io:
            layers = [DynamicIR(cin if l == 0 else cout, cout, stride if l == 0 else 1, c["kernels"], c["expands"])
                      for l in range(space.max_depth)]
            self.stages.append(nn.ModuleList(layers))
        _, hf = parse_block(space.head_key)
        self.head = Head(hf["i"], hf["f"], hf["o"], nn.ReLU() if hf.get("re") else nn.Hardswish())

    def forward(self, x, arch: Dict[str, Any], fq=None):
        """The subnet ``arch``; with ``fq`` the ops its ``precision`` plan puts in int8 are fake-quantized."""
        plan = arch.get("precision") if fq is not None else None
        x = _qseq(self.stem, x, fq if plan and plan[0] == "int8" else None, id(self.stem))
        i = 1
        for stage, layers in zip(self.stages, arch["stages"]):
            for block, L in zip(stage, layers):
                x = block(x, L["k"], L["e"], L["act"], bool(L["se"]), fq if plan and plan[i] == "int8" else None)
                i += 1
        h = self.head
        hq = fq if plan and plan[-1] == "int8" else None
        x = torch.flatten(h.pool(_qseq(h.conv, x, hq, id(h))), 1)
        if hq is None:
            return h.fc(x)
        return F.linear(hq.act((id(h), "fc"), x), hq.weight(h.fc.weight), h.fc.bias)

    def extract(self, arch: Dict[str, Any]) -> nn.Module:
        """A standalone ``space.build(arch)`` model holding this subnet's weights and BN statistics."""
        model = self.space.build(arch)
        mods = list(model.children())
        with torch.no_grad():
            mods[0].load_state_dict(self.stem.state_dict())
            mods[-1].load_state_dict(self.head.state_dict())
        i = 1
        for stage, layers in zip(self.stages, arch["stages"]):
            for block, L in zip(stage, layers):
                block.export_to(mods[i], L["k"], L["e"], bool(L["se"]))
                i += 1
        return model.eval()


def _qseq(seq: nn.Sequential, x, fq, key: int):
    """A ConvBNAct block, with its input and weights fake-quantized when ``fq`` is given."""
    if fq is None:
        return seq(x)
    conv = seq[0]
    y = F.conv2d(fq.act((key, "in"), x), fq.weight(conv.weight), conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    for m in list(seq)[1:]:
        y = m(y)
    return y


@torch.no_grad()
def recalibrate_bn(net: nn.Module, forward, batches) -> None:
    """Exact BN statistics for one subnet: reset, then a cumulative average over ``batches``."""
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
    net.train()
    for i, xb in enumerate(batches):
        for m in bns:
            m.momentum = 1.0 / (i + 1)
        forward(xb)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    net.eval()
