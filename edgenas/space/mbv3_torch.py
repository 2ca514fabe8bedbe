"""Torch modules for the MobileNetV3-style ops, built from their block strings."""

import torch
import torch.nn as nn

from ..errors import EdgenasError
from .blocks import ACTS, make_divisible, parse_block

_ACT = {"re": nn.ReLU, "hs": nn.Hardswish}


def _act_of(fields) -> nn.Module:
    for a in ACTS:
        if fields.get(a):
            return _ACT[a](inplace=True)
    raise EdgenasError("block has no activation flag (one of {})".format(", ".join(ACTS)))


class ConvBNAct(nn.Sequential):
    def __init__(self, cin, cout, k, stride=1, groups=1, act=None):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act is not None:
            layers.append(act)
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, ch):
        super().__init__()
        sq = make_divisible(ch // 4)
        self.fc1 = nn.Conv2d(ch, sq, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(sq, ch, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, k, e, stride, act, se):
        super().__init__()
        mid = make_divisible(cin * e)
        self.expand = ConvBNAct(cin, mid, 1, act=act())
        self.dw = ConvBNAct(mid, mid, k, stride, groups=mid, act=act())
        self.se = SqueezeExcite(mid) if se else nn.Identity()
        self.project = ConvBNAct(mid, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.residual else y


class Head(nn.Module):
    def __init__(self, cin, feat, ncls, act):
        super().__init__()
        self.conv = ConvBNAct(cin, feat, 1, act=act)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(feat, ncls)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.conv(x)), 1))


def build_op(key: str) -> nn.Module:
    kind, f = parse_block(key)
    if kind == "stem":
        return ConvBNAct(f["i"], f["o"], f["k"], f["s"], act=_act_of(f))
    if kind == "head":
        return Head(f["i"], f["f"], f["o"], _act_of(f))
    if kind == "ir":
        act = type(_act_of(f))
        return InvertedResidual(f["i"], f["o"], f["k"], f["e"], f["s"], lambda: act(inplace=True), bool(f.get("se")))
    raise EdgenasError("unknown block type '{}' in '{}'".format(kind, key))
