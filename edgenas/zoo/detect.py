"""Multi-output detectors in plain torch: an SSDlite-style raw head (two outputs, boxes and class logits, on a
MobileNetV3-Large backbone) and a YOLO-style detector (CSP backbone, PAN neck, three raw heads, no NMS).
Written here, not taken from any detection library."""

from functools import partial
from typing import List, Tuple

import torch
from torch import nn

from .common import Conv2dNormActivation
from .mobilenet import mobilenet_v3_large

BN_SSD = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)


def _extra(cin: int, cout: int) -> nn.Sequential:
    """SSDlite extra block: 1x1 reduce, 3x3 depthwise stride 2, 1x1 expand (ReLU6)."""
    mid = cout // 2
    return nn.Sequential(Conv2dNormActivation(cin, mid, 1, norm_layer=BN_SSD, activation_layer=nn.ReLU6),
                         Conv2dNormActivation(mid, mid, 3, 2, groups=mid, norm_layer=BN_SSD, activation_layer=nn.ReLU6),
                         Conv2dNormActivation(mid, cout, 1, norm_layer=BN_SSD, activation_layer=nn.ReLU6))


def _head(cin: int, cout: int) -> nn.Sequential:
    """SSDlite prediction head: 3x3 depthwise + BN + ReLU6, then a 1x1 conv."""
    return nn.Sequential(Conv2dNormActivation(cin, cin, 3, groups=cin, norm_layer=BN_SSD, activation_layer=nn.ReLU6),
                         nn.Conv2d(cin, cout, 1))


class SSDLite(nn.Module):
    """Raw SSDlite outputs: ``bbox_regression`` (N, anchors, 4) and ``cls_logits`` (N, anchors, classes)."""

    def __init__(self, num_classes: int = 91, anchors: int = 6) -> None:
        super().__init__()
        features = mobilenet_v3_large().features
        self.body = features[:13]            # stride 16, 112 channels
        self.body_tail = features[13:]       # stride 32, 960 channels
        self.extra = nn.ModuleList([_extra(960, 512), _extra(512, 256)])
        chans = [112, 960, 512, 256]
        self.num_classes, self.anchors = num_classes, anchors
        self.cls_head = nn.ModuleList([_head(c, anchors * num_classes) for c in chans])
        self.reg_head = nn.ModuleList([_head(c, anchors * 4) for c in chans])

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        c4 = self.body(x)
        maps = [c4, self.body_tail(c4)]
        for e in self.extra:
            maps.append(e(maps[-1]))
        n = x.shape[0]
        cls = [h(m).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes) for h, m in zip(self.cls_head, maps)]
        reg = [h(m).permute(0, 2, 3, 1).reshape(n, -1, 4) for h, m in zip(self.reg_head, maps)]
        return torch.cat(reg, 1), torch.cat(cls, 1)


class Conv(Conv2dNormActivation):
    """Conv + BN + SiLU, the YOLO-family basic layer."""

    def __init__(self, cin: int, cout: int, k: int = 1, s: int = 1) -> None:
        super().__init__(cin, cout, k, s, norm_layer=BN_SSD, activation_layer=nn.SiLU)


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1, self.cv2, self.add = Conv(c, c, 3), Conv(c, c, 3), shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP block with two convolutions: split, n bottlenecks, concatenate every intermediate, fuse."""

    def __init__(self, cin: int, cout: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.c = cout // 2
        self.cv1 = Conv(cin, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, cout)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, cin: int, cout: int, k: int = 5) -> None:
        super().__init__()
        self.cv1, self.cv2 = Conv(cin, cin // 2), Conv(cin // 2 * 4, cout)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat([x, y1, y2, self.m(y2)], 1))


class YOLO(nn.Module):
    """Three raw heads at strides 8/16/32, each (N, anchors*(5+classes), H, W); no decoding, no NMS."""

    def __init__(self, num_classes: int = 80, anchors: int = 3, width: int = 16) -> None:
        super().__init__()
        w = [width * m for m in (1, 2, 4, 8, 16)]
        self.stem = Conv(3, w[0], 3, 2)
        self.stage1 = nn.Sequential(Conv(w[0], w[1], 3, 2), C2f(w[1], w[1], 1))
        self.stage2 = nn.Sequential(Conv(w[1], w[2], 3, 2), C2f(w[2], w[2], 2))          # P3, stride 8
        self.stage3 = nn.Sequential(Conv(w[2], w[3], 3, 2), C2f(w[3], w[3], 2))          # P4, stride 16
        self.stage4 = nn.Sequential(Conv(w[3], w[4], 3, 2), C2f(w[4], w[4], 1), SPPF(w[4], w[4]))  # P5, stride 32
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.top_down4 = C2f(w[4] + w[3], w[3], 1, False)
        self.top_down3 = C2f(w[3] + w[2], w[2], 1, False)
        self.down3 = Conv(w[2], w[2], 3, 2)
        self.bottom_up4 = C2f(w[2] + w[3], w[3], 1, False)
        self.down4 = Conv(w[3], w[3], 3, 2)
        self.bottom_up5 = C2f(w[3] + w[4], w[4], 1, False)
        out = anchors * (5 + num_classes)
        self.heads = nn.ModuleList(nn.Sequential(Conv(c, c, 3), nn.Conv2d(c, out, 1)) for c in (w[2], w[3], w[4]))

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        p3 = self.stage2(self.stage1(self.stem(x)))
        p4 = self.stage3(p3)
        p5 = self.stage4(p4)
        t4 = self.top_down4(torch.cat([self.up(p5), p4], 1))
        o3 = self.top_down3(torch.cat([self.up(t4), p3], 1))
        o4 = self.bottom_up4(torch.cat([self.down3(o3), t4], 1))
        o5 = self.bottom_up5(torch.cat([self.down4(o4), p5], 1))
        return [h(o) for h, o in zip(self.heads, (o3, o4, o5))]


def ssdlite_mobilenet_v3_large(num_classes: int = 91) -> SSDLite:
    return SSDLite(num_classes)


def yolo_s(num_classes: int = 80) -> YOLO:
    return YOLO(num_classes)
