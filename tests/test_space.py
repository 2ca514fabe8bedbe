import numpy as np
import pytest
import torch

from edgenas.errors import EdgenasError
from edgenas.space import get_space, list_spaces
from edgenas.space.blocks import format_block, parse_block


def test_registry_lists_and_rejects_unknown():
    assert {"mbv3", "mbv3-small"} <= set(list_spaces())
    with pytest.raises(EdgenasError, match="did you mean 'mbv3-small'"):
        get_space("mbv3-smal")
    with pytest.raises(EdgenasError, match="unknown option 'widht' \\(did you mean 'width'\\?\\)"):
        get_space("mbv3", widht=0.5)


def test_block_string_round_trip():
    kind, f = parse_block("ir_k5_e6_i24_o40_s2_hs_se@16")
    assert kind == "ir" and f == {"k": 5, "e": 6, "i": 24, "o": 40, "s": 2, "hs": True, "se": True, "r": 16}
    assert format_block(kind, f, ("k", "e", "i", "o", "s", "hs", "se")) == "ir_k5_e6_i24_o40_s2_hs_se@16"
    with pytest.raises(EdgenasError):
        parse_block("ir_k5_e6@x")


@pytest.mark.parametrize("name", ["mbv3-small", "mbv3"])
def test_arch_string_round_trip_and_build(name):
    space = get_space(name)
    rng = np.random.default_rng(1)
    for g in space.sample(rng, 3):
        arch = space.decode(g)
        s = space.to_string(arch)
        assert space.from_string(s) == arch
        assert (space.encode(arch) == space.canonical(g[None])[0]).all()
    model = space.build(arch).eval()
    out = model(torch.randn(*space.input_shape()))
    assert out.shape == (1, space.config["num_classes"])
    params, macs = space.cost(arch)
    assert params == sum(p.numel() for p in model.parameters())
    assert macs > params


def test_width_and_resolution_are_parameters():
    small = get_space("mbv3-small", resolution=32, width=0.5)
    assert small.input_shape() == (1, 1, 32, 32)
    assert "i8_o16" in small.all_ops()[1] or "o16" in small.all_ops()[1]
    assert small.sha256 != get_space("mbv3-small").sha256


def test_invalid_choice_is_named():
    space = get_space("mbv3-small")
    s = space.to_string(space.decode(space.sample(np.random.default_rng(0), 1)[0]))
    bad = s.replace("_k3_", "_k9_", 1) if "_k3_" in s else s.replace("_k5_", "_k9_", 1).replace("_k7_", "_k9_", 1)
    with pytest.raises(EdgenasError, match=r"kernel: 9 is not a choice; choose one of 3, 5, 7"):
        space.from_string(bad)
    with pytest.raises(EdgenasError, match="has 1 stages .* has 4"):
        space.from_string("ir_k3_e3_re")
    with pytest.raises(EdgenasError, match="depth: 4 is not a choice"):
        space.from_string("|".join([",".join(["ir_k3_e3_re"] * 4)] * 4))


def test_vectorised_op_indices_match_per_arch_ops():
    space = get_space("mbv3-small")
    G = space.sample(np.random.default_rng(3), 200)
    keys = space.all_ops()
    idx = space.op_index_matrix(G)
    for g, row in zip(G[:60], idx[:60]):
        assert [keys[i] for i in row if i >= 0] == space.ops(space.decode(g))
    assert len(set(keys)) == len(keys) == 4 * 2 * 3 * 3 * 2 * 2 + 2


def test_op_modules_match_their_keys():
    space = get_space("mbv3-small")
    for key in space.all_ops()[:: 37]:
        m = space.build_op(key).eval()
        y = m(torch.randn(*space.op_input_shape(key)))
        assert sum(p.numel() for p in m.parameters()) == space.op_cost(key)[0], key
        assert y.ndim in (2, 4)
