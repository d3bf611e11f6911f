"""The five modern CNNs of the zoo (MobileNetV2, MobileNetV3-Large, EfficientNet-B0,
ShuffleNetV2-1.0, DenseNet-121; outside the default lists): published MACs, torchvision's
layout and names, and what make_weights gives them. Their parameter counts are asserted in
tests/test_zoo.py with every other model's; their outputs in every framework in
tests/test_equivalence.py and tests/test_onnx_import.py."""
from __future__ import annotations

import pytest

from adapter_helpers import import_or_skip
from suite.models import counts, zoo
from suite.models.weights import make_weights
from test_zoo import assert_not_degenerate, sample_batch, torch_forward

# torchvision's "GFLOPS" column for the modern CNNs, published to two decimals only.
GMACS_2_DECIMALS = {"mobilenet_v2": 0.30, "mobilenet_v3_large": 0.22, "efficientnet_b0": 0.39,
                    "shufflenet_v2": 0.14, "densenet121": 2.83}


@pytest.mark.parametrize("name", sorted(GMACS_2_DECIMALS))
def test_modern_cnn_macs_round_to_the_published_figure(name: str) -> None:
    gmacs = counts.macs_per_item(zoo.get_model(name)) / 1e9
    assert round(gmacs, 2) == GMACS_2_DECIMALS[name]


def test_modern_cnns_are_extras_in_torchvision_layout() -> None:
    assert set(zoo.MODERN_MODEL_NAMES) <= set(zoo.EXTRA_MODEL_NAMES)
    assert not set(zoo.MODERN_MODEL_NAMES) & set(zoo.MODEL_NAMES)
    for name in zoo.MODERN_MODEL_NAMES:
        model = zoo.get_model(name)
        assert "torchvision" in model.notes and model.node(model.output).shape == (1000,)
    v3 = zoo.get_model("mobilenet_v3_large")        # torchvision's state-dict names
    assert v3.param_shapes()["features.4.block.2.fc1.weight"] == (24, 72, 1, 1)   # SE squeeze
    assert v3.node("features.4.block.2.scale_activation").op == "hardsigmoid"
    assert zoo.get_model("densenet121").param_shapes()["classifier.weight"] == (1000, 1024)
    shuffle = zoo.get_model("shufflenet_v2")
    assert [n.op for n in shuffle.nodes].count("channel_shuffle") == 16


@pytest.mark.parametrize("name", zoo.MODERN_MODEL_NAMES)
def test_modern_cnn_weights_give_sane_outputs(name: str) -> None:
    """make_weights at 32 px: every parameter, and finite outputs that depend on the input
    (through test_zoo's own torch reading of the IR, the new ops included)."""
    model = zoo.get_model(name, max(32, zoo.min_input_size(name)))
    weights = make_weights(model)
    assert {k: v.shape for k, v in weights.items()} == model.param_shapes()
    import_or_skip("torch", "pytorch", "pip install torch")
    out = torch_forward(model, weights, sample_batch(model))
    assert out.shape == (2, 1000)
    assert_not_degenerate(name, out)
