"""MobileNetV3 / Once-for-All style space: elastic depth per stage; kernel, expand ratio, activation
and squeeze-excite per layer. Width and resolution are parameters.

Registered as ``mbv3`` (ImageNet-style, 224x224x3) and ``mbv3-small`` (28/32 px, 1 channel, for
Fashion-MNIST and other small inputs: stride-1 stem, four stages).
"""

import itertools
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from ..errors import EdgenasError, suggest
from .base import Gene, Space
from .blocks import ACTS, LAYER_ORDER, format_block, make_divisible, out_size, parse_block
from .checks import check_mbv3_options


class MBV3Space(Space):
    def __init__(self, name: str, defaults: Dict[str, Any], **overrides: Any) -> None:
        for key in overrides:
            if key not in defaults:
                raise EdgenasError("space '{}': unknown option '{}'{}; options: {}".format(
                    name, key, suggest(key, defaults), ", ".join(defaults)))
        for key, value in overrides.items():
            want = type(defaults[key])
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) if want in (int, float) else isinstance(value, want)
            if not ok:
                raise EdgenasError("space '{}': option '{}' must be a {}, got {!r}".format(name, key, want.__name__, value))
        cfg = dict(defaults)
        cfg.update(overrides)
        check_mbv3_options(name, cfg)
        cfg["stages"] = [list(s) for s in cfg["stages"]]
        for key in ("depths", "kernels", "expands", "acts", "se"):
            cfg[key] = list(cfg[key])
        super().__init__(**cfg)
        self.name = name
        self._check()
        self._layout()

    # --- structure ----------------------------------------------------------------------------
    def _check(self) -> None:
        c = self.config
        if not isinstance(c["resolution"], int) or c["resolution"] < 8:
            raise EdgenasError("space '{}': resolution must be an integer >= 8, got {!r}".format(self.name, c["resolution"]))
        if not (0.1 <= float(c["width"]) <= 4.0):
            raise EdgenasError("space '{}': width must be in [0.1, 4], got {!r}".format(self.name, c["width"]))
        bad = [a for a in c["acts"] if a not in ACTS]
        if bad:
            raise EdgenasError("space '{}': unknown activation {}; choose from {}".format(self.name, bad, ACTS))
        if min(c["depths"]) < 1:
            raise EdgenasError("space '{}': depth choices must be >= 1".format(self.name))

    def _ch(self, c: int) -> int:
        return make_divisible(c * float(self.config["width"]))

    def _layout(self) -> None:
        c = self.config
        r = c["resolution"]
        self.stem_key = format_block("stem", {"k": 3, "i": c["in_channels"], "o": self._ch(c["stem_channels"]),
                                              "s": c["stem_stride"], c["stem_act"]: True, "r": r}, LAYER_ORDER)
        r = out_size(r, c["stem_stride"])
        cin = self._ch(c["stem_channels"])
        self.stage_io: List[Tuple[int, int, int, int, int]] = []  # (cin, cout, stride, r_in, r_out)
        for ch, stride in c["stages"]:
            cout = self._ch(ch)
            self.stage_io.append((cin, cout, stride, r, out_size(r, stride)))
            cin, r = cout, out_size(r, stride)
        self.head_key = format_block("head", {"i": cin, "f": self._ch(c["head_channels"]) if c["width"] > 1 else c["head_channels"],
                                              "o": c["num_classes"], c["head_act"]: True, "r": r}, ("i", "f", "o"))
        self.max_depth = max(c["depths"])
        self._choices = [tuple(c["kernels"]), tuple(c["expands"]), tuple(c["acts"]), tuple(bool(x) for x in c["se"])]
        keys = [self.stem_key]
        shape = (len(self.stage_io), 2) + tuple(len(ch) for ch in self._choices)
        self._lut = np.full(shape, -1, dtype=np.int64)
        for s in range(len(self.stage_io)):
            for rest in ((0, 1) if self.max_depth > 1 else (0,)):
                for idx in itertools.product(*[range(len(ch)) for ch in self._choices]):
                    self._lut[(s, rest) + idx] = len(keys)
                    keys.append(self._layer_key(s, rest, *[ch[i] for ch, i in zip(self._choices, idx)]))
        keys.append(self.head_key)
        self._keys = keys
        self._genes = []
        for s in range(len(self.stage_io)):
            self._genes.append(Gene("s{}.depth".format(s + 1), tuple(c["depths"])))
            for l in range(self.max_depth):
                for g, ch in zip(("k", "e", "act", "se"), self._choices):
                    self._genes.append(Gene("s{}.l{}.{}".format(s + 1, l + 1, g), ch))

    def _layer_key(self, s: int, rest: int, k: int, e: int, act: str, se: bool) -> str:
        cin, cout, stride, r_in, r_out = self.stage_io[s]
        if rest:
            cin, stride, r_in = cout, 1, r_out
        return format_block("ir", {"k": k, "e": e, "i": cin, "o": cout, "s": stride, act: True, "se": se, "r": r_in},
                            LAYER_ORDER)

    # --- genotype -----------------------------------------------------------------------------
    @property
    def genes(self) -> List[Gene]:
        return self._genes

    def _gene_matrix(self, G: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        G = np.atleast_2d(np.asarray(G, dtype=np.int64))
        n_st = len(self.stage_io)
        per_stage = 1 + 4 * self.max_depth
        G3 = G.reshape(G.shape[0], n_st, per_stage)
        depth = np.asarray(self.config["depths"])[G3[:, :, 0]]
        layers = G3[:, :, 1:].reshape(G.shape[0], n_st, self.max_depth, 4)
        return depth, layers

    def decode(self, genotype: Sequence[int]) -> Dict[str, Any]:
        g = np.asarray(genotype, dtype=np.int64)
        if g.shape != (len(self._genes),):
            raise EdgenasError("genotype has {} genes; space '{}' has {}".format(g.size, self.name, len(self._genes)))
        depth, layers = self._gene_matrix(g)
        stages = []
        for s in range(len(self.stage_io)):
            stage = []
            for l in range(int(depth[0, s])):
                ki, ei, ai, si = layers[0, s, l]
                stage.append({"k": self._choices[0][ki], "e": self._choices[1][ei],
                              "act": self._choices[2][ai], "se": self._choices[3][si]})
            stages.append(stage)
        return {"stages": stages}

    def encode(self, arch: Dict[str, Any]) -> np.ndarray:
        out = np.zeros(len(self._genes), dtype=np.int64)
        per_stage = 1 + 4 * self.max_depth
        stages = arch.get("stages") if isinstance(arch, dict) else None
        if not isinstance(stages, list) or len(stages) != len(self.stage_io):
            raise EdgenasError("arch must have 'stages': a list of {} stages for space '{}'".format(len(self.stage_io), self.name))
        for s, stage in enumerate(stages):
            out[s * per_stage] = self._index(self.config["depths"], len(stage), "stage {} depth".format(s + 1))
            for l, layer in enumerate(stage):
                where = "stage {} layer {}".format(s + 1, l + 1)
                for j, (field, label) in enumerate((("k", "kernel"), ("e", "expand ratio"), ("act", "activation"), ("se", "se"))):
                    if field not in layer:
                        raise EdgenasError("{}: missing '{}'".format(where, field))
                    out[s * per_stage + 1 + 4 * l + j] = self._index(self._choices[j], layer[field], where + " " + label)
        return out

    @staticmethod
    def _index(choices: Sequence[Any], value: Any, where: str) -> int:
        for i, c in enumerate(choices):
            if c == value and type(c) is type(value) or (isinstance(c, bool) and value in (0, 1) and bool(value) == c):
                return i
        raise EdgenasError("{}: {!r} is not a choice; choose one of {}".format(where, value, ", ".join(map(str, choices))))

    def to_string(self, arch: Dict[str, Any]) -> str:
        self.encode(arch)  # validates
        return "|".join(",".join(format_block("ir", {"k": L["k"], "e": L["e"], L["act"]: True, "se": bool(L["se"])}, LAYER_ORDER)
                                 for L in stage) for stage in arch["stages"])

    def from_string(self, s: str) -> Dict[str, Any]:
        parts = s.strip().split("|")
        if len(parts) != len(self.stage_io):
            raise EdgenasError("arch string has {} stages separated by '|'; space '{}' has {}".format(
                len(parts), self.name, len(self.stage_io)))
        stages = []
        for si, part in enumerate(parts):
            stage = []
            for li, blk in enumerate(filter(None, part.split(","))):
                kind, f = parse_block(blk)
                where = "stage {} layer {} '{}'".format(si + 1, li + 1, blk)
                acts = [a for a in f if a in ACTS]
                extra = [x for x in f if x not in ("k", "e", "se") + ACTS]
                if kind != "ir" or len(acts) != 1 or extra or "k" not in f or "e" not in f:
                    raise EdgenasError("{}: expected 'ir_k<K>_e<E>_<re|hs>[_se]'".format(where))
                stage.append({"k": f["k"], "e": f["e"], "act": acts[0], "se": bool(f.get("se", False))})
            stages.append(stage)
        arch = {"stages": stages}
        self.encode(arch)
        return arch

    def canonical(self, G: np.ndarray) -> np.ndarray:
        G = np.atleast_2d(np.asarray(G, dtype=np.int64)).copy()
        depth, _ = self._gene_matrix(G)
        per_stage = 1 + 4 * self.max_depth
        for s in range(len(self.stage_io)):
            for l in range(self.max_depth):
                off = s * per_stage + 1 + 4 * l
                G[depth[:, s] <= l, off:off + 4] = 0
        return G

    # --- ops ----------------------------------------------------------------------------------
    def all_ops(self) -> List[str]:
        return list(self._keys)

    def ops(self, arch: Dict[str, Any]) -> List[str]:
        return [self._keys[i] for i in self.op_index_matrix(self.encode(arch)[None])[0] if i >= 0]

    def op_index_matrix(self, G: np.ndarray) -> np.ndarray:
        depth, layers = self._gene_matrix(G)
        n, n_st = depth.shape
        out = np.full((n, 2 + n_st * self.max_depth), -1, dtype=np.int64)
        out[:, 0] = 0
        out[:, -1] = len(self._keys) - 1
        for s in range(n_st):
            for l in range(self.max_depth):
                L = layers[:, s, l]
                idx = self._lut[s, min(l, 1), L[:, 0], L[:, 1], L[:, 2], L[:, 3]]
                out[:, 1 + s * self.max_depth + l] = np.where(depth[:, s] > l, idx, -1)
        return out

    def op_input_shape(self, key: str) -> Tuple[int, ...]:
        _, f = parse_block(key)
        return (1, int(f["i"]), int(f["r"]), int(f["r"]))

    def op_cost(self, key: str) -> Tuple[int, int]:
        kind, f = parse_block(key)
        r = int(f["r"])
        if kind == "stem":
            ro = out_size(r, f["s"])
            p = f["k"] * f["k"] * f["i"] * f["o"] + 2 * f["o"]
            return p, f["k"] * f["k"] * f["i"] * f["o"] * ro * ro
        if kind == "head":
            p = f["i"] * f["f"] + 2 * f["f"] + f["f"] * f["o"] + f["o"]
            return p, f["i"] * f["f"] * r * r + f["f"] * f["o"]
        cin, cout, k, s = f["i"], f["o"], f["k"], f["s"]
        mid = make_divisible(cin * f["e"])
        ro = out_size(r, s)
        p = cin * mid + 2 * mid + k * k * mid + 2 * mid + mid * cout + 2 * cout
        macs = cin * mid * r * r + k * k * mid * ro * ro + mid * cout * ro * ro
        if f.get("se"):
            sq = make_divisible(mid // 4)
            p += mid * sq + sq + sq * mid + mid
            macs += 2 * mid * sq
        return p, macs

    def build_op(self, key: str):
        from .mbv3_torch import build_op

        return build_op(key)


MBV3_DEFAULTS: Dict[str, Any] = {
    "resolution": 224, "width": 1.0, "in_channels": 3, "num_classes": 1000,
    "stem_channels": 16, "stem_stride": 2, "stem_act": "hs",
    "stages": [[24, 2], [40, 2], [80, 2], [112, 1], [160, 2]],
    "depths": [2, 3, 4], "kernels": [3, 5, 7], "expands": [3, 4, 6], "acts": ["re", "hs"], "se": [False, True],
    "head_channels": 960, "head_act": "hs",
}

MBV3_SMALL_DEFAULTS: Dict[str, Any] = {
    "resolution": 28, "width": 1.0, "in_channels": 1, "num_classes": 10,
    "stem_channels": 16, "stem_stride": 1, "stem_act": "re",
    "stages": [[24, 2], [40, 2], [64, 2], [96, 1]],
    "depths": [1, 2, 3], "kernels": [3, 5, 7], "expands": [3, 4, 6], "acts": ["re", "hs"], "se": [False, True],
    "head_channels": 256, "head_act": "re",
}


def mbv3(**overrides: Any) -> MBV3Space:
    return MBV3Space("mbv3", MBV3_DEFAULTS, **overrides)


def mbv3_small(**overrides: Any) -> MBV3Space:
    return MBV3Space("mbv3-small", MBV3_SMALL_DEFAULTS, **overrides)
