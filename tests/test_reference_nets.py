"""The parity benchmarks' own torch.nn networks (benchmarks/_reference_torch.py) are the zoo's
architectures: same parameter count and output shape, for every architecture
benchmarks/_reference_nets.py pairs with a PyTorch or ONNX Runtime row."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from _reference_nets import ARCHS, PAIRS  # noqa: E402

from adapter_helpers import import_or_skip  # noqa: E402
from suite.models import zoo  # noqa: E402


@pytest.mark.parametrize("arch", ARCHS)
def test_each_torch_reference_has_the_zoo_networks_parameters(arch):
    torch = import_or_skip("torch", "pytorch", "pip install torch")
    from _reference_torch import torch_net
    pair = PAIRS["pytorch"][arch]
    size = max(64, zoo.min_input_size(pair.zoo_model))
    net = torch_net(arch, size).eval()
    assert sum(p.numel() for p in net.parameters()) == \
        zoo.get_model(pair.zoo_model, size).param_count()
    with torch.no_grad():
        assert tuple(net(torch.zeros(1, 3, size, size)).shape) == (1, 1000)


def test_every_architecture_has_a_pytorch_and_an_onnx_reference():
    assert set(PAIRS["pytorch"]) == set(PAIRS["onnx"]) == set(ARCHS)
    assert {"mobilenet_v2", "efficientnet_b0"} <= set(PAIRS["tensorflow"])
