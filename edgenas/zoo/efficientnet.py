"""EfficientNet-B0, RegNetY-400MF and SqueezeNet 1.0 (torchvision's layouts and layer names)."""

from functools import partial
from typing import List

import torch
from torch import nn

from .common import Conv2dNormActivation, SqueezeExcitation

BN_EFF = partial(nn.BatchNorm2d, eps=1e-3)


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        exp = cin * expand
        layers: List[nn.Module] = []
        if exp != cin:
            layers.append(Conv2dNormActivation(cin, exp, 1, norm_layer=BN_EFF, activation_layer=nn.SiLU))
        layers += [Conv2dNormActivation(exp, exp, k, stride, groups=exp, norm_layer=BN_EFF, activation_layer=nn.SiLU),
                   SqueezeExcitation(exp, max(1, cin // 4), activation=partial(nn.SiLU, inplace=True)),
                   Conv2dNormActivation(exp, cout, 1, norm_layer=BN_EFF, activation_layer=None)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.use_res_connect else self.block(x)


class EfficientNet(nn.Module):
    # (expand, kernel, stride, in, out, layers): B0
    STAGES = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
              (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: List[nn.Module] = [Conv2dNormActivation(3, 32, 3, 2, norm_layer=BN_EFF, activation_layer=nn.SiLU)]
        for e, k, s, cin, cout, n in self.STAGES:
            layers.append(nn.Sequential(*[MBConv(cin if i == 0 else cout, cout, k, s if i == 0 else 1, e) for i in range(n)]))
        layers.append(Conv2dNormActivation(320, 1280, 1, norm_layer=BN_EFF, activation_layer=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2, inplace=True), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class BottleneckTransform(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int, group_width: int, se_ratio: float) -> None:
        super().__init__()
        self.a = Conv2dNormActivation(cin, cout, 1)
        self.b = Conv2dNormActivation(cout, cout, 3, stride, groups=cout // group_width)
        self.se = SqueezeExcitation(cout, int(round(se_ratio * cin)))
        self.c = Conv2dNormActivation(cout, cout, 1, activation_layer=None)


class ResBottleneckBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, group_width: int, se_ratio: float) -> None:
        super().__init__()
        self.proj = (Conv2dNormActivation(cin, cout, 1, stride, activation_layer=None)
                     if cin != cout or stride != 1 else None)
        self.f = BottleneckTransform(cin, cout, stride, group_width, se_ratio)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation((x if self.proj is None else self.proj(x)) + self.f(x))


class RegNet(nn.Module):
    """torchvision regnet_y_400mf: widths 48/104/208/440, depths 1/3/6/6, group width 8, SE 0.25."""

    def __init__(self, widths=(48, 104, 208, 440), depths=(1, 3, 6, 6), group_width: int = 8, se_ratio: float = 0.25,
                 num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = Conv2dNormActivation(3, 32, 3, 2)
        stages, cin = [], 32
        for i, (w, d) in enumerate(zip(widths, depths)):
            blocks = nn.Sequential()
            for j in range(d):
                blocks.add_module("block{}-{}".format(i + 1, j), ResBottleneckBlock(cin, w, 2 if j == 0 else 1, group_width, se_ratio))
                cin = w
            stages.append(("block{}".format(i + 1), blocks))
        self.trunk_output = nn.Sequential()
        for name, m in stages:
            self.trunk_output.add_module(name, m)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.trunk_output(self.stem(x))), 1))


class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """SqueezeNet 1.0 (no BatchNorm)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        pool = partial(nn.MaxPool2d, kernel_size=3, stride=2, ceil_mode=True)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 7, 2), nn.ReLU(inplace=True), pool(),
            Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), pool(),
            Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), pool(),
            Fire(512, 64, 256, 256))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1), nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


def efficientnet_b0(num_classes: int = 1000) -> EfficientNet:
    return EfficientNet(num_classes)


def regnet_y_400mf(num_classes: int = 1000) -> RegNet:
    return RegNet(num_classes=num_classes)


def squeezenet1_0(num_classes: int = 1000) -> SqueezeNet:
    return SqueezeNet(num_classes)
