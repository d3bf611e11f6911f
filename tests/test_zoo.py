"""The model zoo: published parameter counts and MACs, weights, input-size and graph checks."""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from adapter_helpers import import_or_skip
from suite.errors import UsageError
from suite.models import counts, zoo
from suite.models.ir import GraphBuilder, GraphError, Model
from suite.models.weights import make_weights

# Published parameter counts. Sources in docs/models.md; "computed" = from the published
# architecture definition (no public figure for exactly this variant).
PARAMS = {
    "caffenet": 60_965_224,          # bvlc_reference_caffenet
    "squeezenet": 1_248_424,         # torchvision squeezenet1_0
    "nin": 7_595_176,                # computed: Caffe nin_imagenet
    "resnet18": 11_689_512,          # torchvision
    "resnet34": 21_797_672,          # torchvision
    "inception_bn": 11_295_240,      # computed: MXNet inception-bn symbol
    "resnet50": 25_557_032,          # torchvision
    "inception_v3": 23_834_568,      # torchvision 27,161,264 minus the aux head 3,326,696
    "vgg16": 138_357_544,            # torchvision
    "resnet101": 44_549_160,         # torchvision
    "vgg19": 143_667_240,            # torchvision
    "resnet152": 60_192_808,         # torchvision
    "resnet200": 64_673_832,         # computed: fb.resnet.torch [3, 24, 36, 3]
    "resnext50": 25_028_904,         # torchvision resnext50_32x4d
    "resnext101": 44_177_704,        # resnext101_32x4d (Cadene pretrainedmodels, Gluon)
    "resnext101_64x4d": 83_455_272,  # torchvision
    "bert_base": 109_482_240,        # HuggingFace bert-base-uncased BertModel
    "bert_large": 335_141_888,       # HuggingFace bert-large-uncased BertModel
    "resnet50_v1": 25_557_032,       # as resnet50: v1 moves the stride, not a parameter
    "mobilenet_v2": 3_504_872,       # torchvision
    "mobilenet_v3_large": 5_483_032,  # torchvision
    "efficientnet_b0": 5_288_548,    # torchvision
    "shufflenet_v2": 2_278_604,      # torchvision shufflenet_v2_x1_0
    "densenet121": 7_978_856,        # torchvision
}

# Published multiply-adds (G) at the default input size: torchvision's "GFLOPS" column
# (conv + linear multiply-adds), and BERT-base's usual 11.2 G at 128 tokens.
GMACS = {
    "squeezenet": 0.82, "resnet18": 1.81, "resnet34": 3.66, "resnet50": 4.09,
    "inception_v3": 5.71, "vgg16": 15.47, "resnet101": 7.80, "vgg19": 19.63,
    "resnet152": 11.51, "resnext50": 4.23, "resnext101_64x4d": 15.46, "bert_base": 11.2,
}

TITLES = ("CaffeNet", "SqueezeNet", "NIN", "ResNet-18", "ResNet-34", "Inception-BN",
          "ResNet-50", "Inception-v3", "VGG16", "ResNet-101", "VGG19", "ResNet-152",
          "ResNet-200", "ResNeXt-50", "ResNeXt-101", "ResNeXt-101-64x4d", "BERT-base")


def small_size(name: str) -> int:
    """A cheap input size (full depth, small maps): 32 px / 16 tokens, or the minimum."""
    return max(32 if zoo.is_image_model(name) else 16, zoo.min_input_size(name))


@functools.lru_cache(maxsize=1)
def small_model_weights(name: str) -> dict[str, np.ndarray]:
    """make_weights at small_size (cached: BERT's 110M parameters are drawn once)."""
    return make_weights(zoo.get_model(name, small_size(name)))


def test_names_titles_and_order_follow_the_seed() -> None:
    assert zoo.MODEL_NAMES[0] == "caffenet" and zoo.MODEL_NAMES[-1] == "bert_base"
    assert tuple(zoo.title(n) for n in zoo.MODEL_NAMES) == TITLES
    assert set(zoo.ALL_MODEL_NAMES) == set(PARAMS)


@pytest.mark.parametrize("name", zoo.ALL_MODEL_NAMES)
def test_parameter_count_matches_reference(name: str) -> None:
    model = zoo.get_model(name)
    assert counts.params(model) == PARAMS[name]
    assert model.name == name and model.title == zoo.title(name)


@pytest.mark.parametrize("name", sorted(GMACS))
def test_macs_within_one_percent_of_published(name: str) -> None:
    gmacs = counts.macs_per_item(zoo.get_model(name)) / 1e9
    assert gmacs == pytest.approx(GMACS[name], rel=0.01)


def test_resnet50_v1_moves_the_stride_into_the_first_1x1_conv() -> None:
    v1, v15 = zoo.get_model("resnet50_v1"), zoo.get_model("resnet50")
    assert v1.param_shapes() == v15.param_shapes()
    assert v1.node("layer2.0.conv1").shape == (128, 28, 28)     # v1: 56 -> 28 in the 1x1
    assert v15.node("layer2.0.conv1").shape == (128, 56, 56)    # v1.5: in the 3x3
    assert v1.node("layer2.0.conv2").shape == v15.node("layer2.0.conv2").shape
    assert v1.node(v1.output).shape == (1000,) and "v1" in v1.notes
    # computed: 3x3 convs on the reduced map (Gluon resnet50_v1 / Keras ResNet50 convs)
    assert counts.macs_per_item(v1) == 3_857_973_248
    assert "resnet50_v1" in zoo.ALL_MODEL_NAMES and "resnet50_v1" not in zoo.MODEL_NAMES


def test_macs_by_hand() -> None:
    b = GraphBuilder("t", "t")
    x = b.input("data", (4, 8, 8))
    x = b.conv("c", x, 6, 3, padding=1, groups=2)          # 6*8*8 outputs x (4/2)*3*3
    x = b.add("global_avgpool", "g", [x])
    x = b.dense("fc", x, 10)                               # 6*10
    assert counts.macs_per_item(b.build(x)) == 6 * 64 * 2 * 9 + 60
    bert = zoo.get_model("bert_base", 128)
    s, h, layers = 128, 768, 12
    per_layer = 4 * s * h * h + 2 * s * s * h + 2 * s * h * 3072
    assert counts.macs_per_item(bert) == layers * per_layer + h * h


def test_default_sizes_metadata_and_inputs() -> None:
    assert zoo.default_input_size("caffenet") == 227
    assert zoo.default_input_size("inception_v3") == 299
    assert zoo.default_input_size("resnet50") == 224
    assert zoo.default_input_size("bert_base") == 128
    r50 = zoo.get_model("resnet50")
    assert r50.inputs[0].name == "data" and r50.inputs[0].shape == (3, 224, 224)
    assert r50.num_classes == 1000 and r50.reference_top5 == 92.6 and r50.notes
    assert r50.node(r50.output).shape == (1000,)
    assert zoo.get_model("resnet200").reference_top5 is None
    bert = zoo.get_model("bert_base", 32)
    spec = bert.inputs[0]
    assert (spec.name, spec.shape, spec.dtype, spec.high) == ("input_ids", (32,), "int64", 30522)
    assert bert.num_classes is None and bert.reference_top5 is None
    assert bert.node(bert.output).shape == (768,)
    assert zoo.is_image_model("vgg16") and not zoo.is_image_model("bert_base")


def test_describe_zoo_rows() -> None:
    rows = {r["name"]: r for r in zoo.describe_zoo()}
    assert list(rows) == list(zoo.MODEL_NAMES)
    v3 = rows["inception_v3"]
    assert v3["input_shape"] == (3, 299, 299) and v3["title"] == "Inception-v3"
    assert v3["params"] == PARAMS["inception_v3"] and v3["gmacs"] == pytest.approx(5.713, abs=1e-3)
    assert v3["reference_top5"] == 93.3 and "aux" in v3["notes"]
    assert rows["bert_base"]["input_shape"] == (128,)
    small = {r["name"]: r for r in zoo.describe_zoo(image_size=64, seq_len=16)}
    assert small["resnet50"]["input_shape"] == (3, 64, 64)
    assert small["inception_v3"]["input_shape"] == (3, 75, 75)    # raised to its minimum
    assert small["bert_base"]["input_shape"] == (16,)
    assert small["resnet50"]["gmacs"] < rows["resnet50"]["gmacs"] / 10
    assert [r["name"] for r in zoo.describe_zoo(("bert_large",))] == ["bert_large"]


def test_unknown_model_is_a_usage_error_listing_valid_names() -> None:
    with pytest.raises(UsageError, match=r"unknown model 'foo'; valid: caffenet, squeezenet"):
        zoo.get_model("foo")
    with pytest.raises(UsageError, match="unknown model"):
        zoo.title("resnet")


def test_min_sizes() -> None:
    assert zoo.min_input_size("inception_v3") == 75       # torchvision documents 75
    assert zoo.min_input_size("squeezenet") == 21         # torchvision documents 21
    assert zoo.min_input_size("resnet50") == 1            # torchvision documents 1
    for name in zoo.MODEL_NAMES:
        if name != "inception_v3":
            assert zoo.min_input_size(name) <= 64, name


@pytest.mark.parametrize("name", ["caffenet", "nin", "inception_bn", "inception_v3", "vgg16"])
def test_too_small_input_names_model_and_smallest_size(name: str) -> None:
    smallest = zoo.min_input_size(name)
    assert zoo.get_model(name, smallest).inputs[0].shape == (3, smallest, smallest)
    with pytest.raises(UsageError, match=rf"{name}: image size {smallest - 1} is too small; "
                                         rf"the smallest valid is {smallest}"):
        zoo.get_model(name, smallest - 1)


@pytest.mark.parametrize("name", zoo.MODEL_NAMES + zoo.MODERN_MODEL_NAMES)
def test_every_size_from_the_minimum_builds(name: str) -> None:
    """min_input_size is only meaningful if validity does not come and go above it."""
    low = zoo.min_input_size(name)
    for size in range(low, low + 40):
        zoo.get_model(name, size)


def test_bad_sizes() -> None:
    for bad in (0, -3, 2.5, True):
        with pytest.raises(UsageError, match="positive integer"):
            zoo.get_model("resnet18", bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="length 513 is too large; the largest valid is 512"):
        zoo.get_model("bert_base", 513)
    assert zoo.get_model("bert_base", 512).inputs[0].shape == (512,)


def test_graph_errors_name_the_node() -> None:
    b = GraphBuilder("t", "t")
    x = b.input("data", (6, 8, 8))
    with pytest.raises(GraphError, match=r"node 'bad_conv' \(conv\).*not divisible by groups 4"):
        b.conv("bad_conv", x, 8, 3, groups=4)
    y = b.conv("c1", x, 8, 3, padding=1)
    z = b.conv("c2", x, 8, 3)
    with pytest.raises(GraphError, match=r"node 'bad_add' \(add\).*equal shapes"):
        b.add("add", "bad_add", [y, z])
    with pytest.raises(GraphError, match=r"node 'bad_cat' \(concat\)"):
        b.add("concat", "bad_cat", [y, z])
    with pytest.raises(GraphError, match="duplicate name"):
        b.conv("c1", x, 8, 1)


# ------------------------------------------------------------------------------ weights

def test_weights_are_deterministic_and_seeded() -> None:
    model = zoo.get_model("resnet18", 32)
    a, b, c = make_weights(model, 0), make_weights(model, 0), make_weights(model, 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert all(not np.array_equal(a[k], c[k]) for k in a)
    with pytest.raises(UsageError, match="non-negative integer"):
        make_weights(model, -1)
    # Pinned values: a change in the generator or the init rules must be deliberate, since
    # stored results and cross-framework comparisons assume the same weights.
    assert float(a["conv1.weight"][0, 0, 0, 0]) == pytest.approx(-0.0085536465, rel=1e-6)
    assert float(a["fc.bias"][0]) == pytest.approx(0.0013769318, rel=1e-6)
    # A weight depends only on (seed, name), not on the model it sits in.
    assert np.array_equal(make_weights(zoo.get_model("resnet34", 32))["conv1.weight"],
                          a["conv1.weight"])


def test_weight_statistics_follow_the_init_rules() -> None:
    model = zoo.get_model("resnet50", 32)
    w = make_weights(model)
    conv = w["layer1.0.conv2.weight"]                              # feeds BN -> ReLU: He
    assert conv.std() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.05)
    assert w["layer1.0.bn3.gamma"].max() <= 0.4                    # residual-branch end
    assert w["layer1.0.downsample.bn.gamma"].min() >= 0.8          # shortcut keeps full gain
    assert w["layer1.0.bn1.gamma"].min() >= 0.8
    var = w["layer1.0.bn1.var"]
    assert var.min() >= 0.5 and var.max() <= 1.5 and var.std() > 0.1
    assert w["fc.weight"].std() == pytest.approx(math.sqrt(1 / 2048), rel=0.05)
    r18 = make_weights(zoo.get_model("resnet18", 32))              # identity shortcuts
    assert r18["layer1.0.bn2.gamma"].max() <= 0.4 and r18["layer4.1.bn2.gamma"].max() <= 0.4
    assert r18["layer1.0.bn1.gamma"].min() >= 0.8 and r18["bn1.gamma"].min() >= 0.8


# ------------------------------------------------------------- a reference forward pass

def torch_forward(model: Model, weights: dict[str, np.ndarray], batch: np.ndarray) -> np.ndarray:
    """Inference of `model` with plain torch functions: an independent reading of the IR's
    op semantics, used to check that the weights give finite, input-dependent outputs."""
    import torch
    import torch.nn.functional as F

    def p(node, key):  # noqa: ANN001, ANN202
        return torch.from_numpy(weights[f"{node.name}.{key}"])

    values = {model.inputs[0].name: torch.from_numpy(batch)}
    with torch.no_grad():
        for n in model.nodes:
            a = n.attributes
            xs = [values[i] for i in n.inputs]
            x = xs[0]
            if n.op == "conv":
                y = F.conv2d(x, p(n, "weight"), p(n, "bias") if a["bias"] else None,
                             a["stride"], a["padding"], 1, a["groups"])
            elif n.op == "batchnorm":
                y = F.batch_norm(x, p(n, "mean"), p(n, "var"), p(n, "gamma"), p(n, "beta"),
                                 False, 0.0, a["eps"])
            elif n.op in ("relu", "tanh", "gelu", "softmax", "sigmoid", "hardswish", "silu"):
                y = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu, "sigmoid": torch.sigmoid,
                     "hardswish": F.hardswish, "silu": F.silu,
                     "softmax": lambda t: F.softmax(t, -1)}[n.op](x)
            elif n.op == "clip":
                y = x.clamp(a["min"], a["max"])
            elif n.op == "hardsigmoid":
                y = (a["alpha"] * x + a["beta"]).clamp(0, 1)
            elif n.op == "mul":
                y = x * xs[1]
            elif n.op == "pad":
                top, bottom, left, right = a["pads"]
                y = F.pad(x, (left, right, top, bottom), value=a["value"])
            elif n.op == "channel_shuffle":
                g = a["groups"]
                y = x.unflatten(1, (g, -1)).transpose(1, 2).flatten(1, 2)
            elif n.op == "slice":
                y = x[:, a["begin"]:a["end"]]
            elif n.op == "maxpool":
                y = F.max_pool2d(x, a["kernel"], a["stride"], a["padding"],
                                 ceil_mode=a["ceil_mode"])
            elif n.op == "avgpool":
                y = F.avg_pool2d(x, a["kernel"], a["stride"], a["padding"], a["ceil_mode"],
                                 a["count_include_pad"])
            elif n.op == "global_avgpool":
                y = x.mean((2, 3), keepdim=bool(a.get("keepdims")))
            elif n.op == "lrn":
                y = F.local_response_norm(x, a["size"], a["alpha"], a["beta"], a["k"])
            elif n.op == "concat":
                y = torch.cat(xs, 1)
            elif n.op == "add":
                y = sum(xs[1:], xs[0])
            elif n.op == "dense":
                y = F.linear(x, p(n, "weight"), p(n, "bias") if a["bias"] else None)
            elif n.op == "dropout":
                y = x
            elif n.op == "flatten":
                y = x.flatten(1)
            elif n.op == "embeddings":
                s = x.shape[1]
                y = p(n, "word")[x] + p(n, "position")[:s] + p(n, "token_type")[0]
            elif n.op == "layernorm" and x.dim() == 4:    # over the channels
                y = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], p(n, "gamma"),
                                 p(n, "beta"), a["eps"]).permute(0, 3, 1, 2)
            elif n.op == "layernorm":
                y = F.layer_norm(x, x.shape[-1:], p(n, "gamma"), p(n, "beta"), a["eps"])
            elif n.op == "attention":
                bsz, s, h = x.shape
                heads = a["heads"]

                def proj(key, t):  # noqa: ANN001, ANN202
                    return F.linear(t, p(n, f"{key}_weight"), p(n, f"{key}_bias"))

                q, k, v = (proj(key, x).view(bsz, s, heads, h // heads).transpose(1, 2)
                           for key in ("q", "k", "v"))
                att = F.softmax(q @ k.transpose(-1, -2) / math.sqrt(h // heads), -1) @ v
                y = proj("out", att.transpose(1, 2).reshape(bsz, s, h))
            elif n.op == "first_token":
                y = x[:, 0]
            else:
                raise AssertionError(f"no reference for op {n.op}")
            assert tuple(y.shape[1:]) == n.shape, n.name
            values[n.name] = y
    return values[model.output].numpy()


def sample_batch(model: Model, items: int = 2) -> np.ndarray:
    spec = model.inputs[0]
    rng = np.random.default_rng(123)
    if spec.dtype == "int64":
        return rng.integers(0, spec.high, (items,) + spec.shape, dtype=np.int64)
    return rng.standard_normal((items,) + spec.shape, dtype=np.float32)


def assert_not_degenerate(name: str, out: np.ndarray) -> None:
    assert np.isfinite(out).all(), name
    assert out[0].std() > 1e-3 * max(1.0, float(np.abs(out[0]).mean())), name
    spread = np.abs(out[0] - out[1]).max()                 # two inputs, two outputs
    assert spread > 1e-4 * float(np.abs(out).max()), name
    assert float(np.abs(out).max()) < 1e4, name            # deep nets did not blow up


# Every builder and op, and the deepest network; the others reuse these code paths at a
# depth in between (all were checked at their default size when the zoo was written).
FORWARD_CHECKED = {"caffenet", "squeezenet", "nin", "resnet18", "inception_bn", "resnet50",
                   "inception_v3", "vgg16", "resnet200", "resnext50", "bert_base"}


@pytest.mark.parametrize("name", zoo.MODEL_NAMES)
def test_weights_cover_every_parameter_and_give_sane_outputs(name: str) -> None:
    """At a small input size (full depth, cheap): one float32 array of the right shape per
    parameter, and - where torch is installed - finite outputs that depend on the input."""
    model = zoo.get_model(name, small_size(name))
    weights = small_model_weights(name)
    shapes = model.param_shapes()
    assert list(weights) == list(shapes)
    for key, shape in shapes.items():
        assert weights[key].shape == shape and weights[key].dtype == np.float32, key
    if name not in FORWARD_CHECKED:
        return
    import_or_skip("torch", "pytorch", "weights checked, forward not run: pip install torch")
    out = torch_forward(model, weights, sample_batch(model))
    assert out.shape == (2,) + model.node(model.output).shape
    assert_not_degenerate(name, out)


def test_bert_weights_and_output_at_the_default_length() -> None:
    model = zoo.get_model("bert_base")
    weights = small_model_weights("bert_base")      # parameters do not depend on the length
    assert {k: v.shape for k, v in weights.items()} == model.param_shapes()
    assert weights["embeddings.word"].std() == pytest.approx(0.02, rel=0.02)
    assert weights["encoder.layer.0.attention.q_weight"].std() == pytest.approx(0.02, rel=0.05)
    import_or_skip("torch", "pytorch", "pip install torch")
    out = torch_forward(model, weights, sample_batch(model))
    assert_not_degenerate("bert_base", out)
