"""One set of operator classes for every framework's profiler, and the tables that map each
framework's op names onto them (data, read by one pure function, `classify`).

The names the collectors hand in (`suite.profiling.collectors`):
- pytorch: `aten::<op>` (and other op namespaces: prim::, mkldnn::, quantized::) from
  torch.profiler; record functions that are not ops (the autograd engine's
  `autograd::engine::evaluate_function: ...`, autograd nodes `...Backward0`,
  `Optimizer.step#SGD.step`) are the framework's own bookkeeping: `OVERHEAD`; but a
  TorchScript method's own time (`forward`) is "other": a frozen graph runs its oneDNN
  prepacked convolutions without a profiler record, so they land there;
- onnx: ONNX Runtime node op types (`Conv`, `ReorderInput`, ...) of its `_kernel_time` events;
- tensorflow: TF op types (`_MklNativeConv2D`, `AddV2`, ...), with the op's name scope in
  front where the graph has one ("gradient_tape/moments/Sub"): TensorFlow's batch
  normalization is `tf.nn.moments` + elementwise ops, recognisable only by its scope;
- mxnet: operator names of `mx.profiler`'s aggregate statistics (`Convolution`,
  `_backward_Convolution`, `multi_sgd_mom_update`, ...).
A collector puts `OPTIMIZER_SCOPE` in front of an op that ran inside the optimizer's
step (torch's SGD is plain `aten::add_` / `aten::mul_` calls, TF's weight decay plain
`Mul` / `AddV2`): the class then is the optimizer update, whatever the op.

Reductions (sum, mean: also a global average pool written as a mean) count as
elementwise, and the softmax cross-entropy loss (log-softmax, NLL, pick) as softmax, in
every framework alike. Names no table knows are "other"; `DELIBERATE_OTHER` lists the
ones seen on the zoo's models that are "other" on purpose (tests/test_profiling.py checks
that nothing else lands there).
"""
from __future__ import annotations

import functools
import re

CONV, MATMUL, NORM, ELEMENTWISE = "conv", "matmul", "norm", "elementwise"
POOLING, ATTENTION, LAYOUT, OPTIMIZER = "pooling", "attention", "layout", "optimizer"
ALLOCATION, OTHER = "allocation", "other"
OVERHEAD = "overhead"     # not an op: the framework's own time (profiled step - Σ op time)
CLASSES = (CONV, MATMUL, NORM, ELEMENTWISE, POOLING, ATTENTION, LAYOUT, OPTIMIZER,
           ALLOCATION, OTHER)   # the fixed order of tables, CSV rows and stacked bars
LABELS = {CONV: "convolution", MATMUL: "matmul/dense", NORM: "normalization",
          ELEMENTWISE: "activation/elementwise", POOLING: "pooling",
          ATTENTION: "attention/softmax", LAYOUT: "layout/copies",
          OPTIMIZER: "optimizer update", ALLOCATION: "allocation", OTHER: "other",
          OVERHEAD: "framework overhead"}
OPTIMIZER_SCOPE = "optimizer/"

# (class, regex matched in full against the op name with its namespace or prefix removed)
TORCH_OPS: list[tuple[str, str]] = [
    (CONV, r"_?(mkldnn_|cudnn_|miopen_|thnn_|slow_|nnpack_|_nnpack_spatial_)?conv.*"
           r"|_?convolution(_backward.*|_overrideable)?|mkldnn_convolution.*"),
    (MATMUL, r"mm|addmm|bmm|baddbmm|matmul|linear|addmv|mv|dot|einsum|_addmm_activation"
             r"|mkldnn_linear.*|_mkldnn_.*mm.*"),
    (NORM, r".*batch_norm.*|.*layer_norm.*|.*group_norm.*|.*instance_norm.*"
           r"|_batch_norm_impl_index.*|local_response_norm"),
    (OVERHEAD, r"numel|result_type|_nnpack_available|size|stride|dim|is_nonzero"),
    (POOLING, r".*(max|avg)_pool\d?d.*|_?adaptive_(max|avg)_pool\d?d.*"),
    (ATTENTION, r"_?(log_)?softmax.*|.*scaled_dot_product.*|.*flash_attention.*"
                r"|.*efficient_attention.*|cross_entropy_loss|nll_loss.*"),
    (OPTIMIZER, r"_foreach_.*|_fused_(sgd|adam|adamw)_?"),
    (ALLOCATION, r"empty|empty_like|empty_strided|zeros|zeros_like|ones|ones_like|full"
                 r"|full_like|new_empty.*|new_zeros|new_ones|new_full|resize_|resize_as_|fill_|zero_"
                 r"|scalar_tensor|_empty_affine_quantized"),
    (LAYOUT, r"copy_|_to_copy|to|contiguous|clone|t|transpose_?|permute|view|view_as|reshape"
             r"|_reshape_alias|_unsafe_view|as_strided_?|expand|expand_as|unsqueeze_?"
             r"|squeeze_?|flatten|cat|stack|slice|select|narrow|split.*|chunk|unbind"
             r"|index_select|gather|embedding.*|constant_pad_nd|pad|detach_?|alias|lift_fresh"
             r"|resolve_(conj|neg)|to_mkldnn|_to_dense|to_dense|_mkldnn_reshape|_mkldnn_transpose"
             r"|unfold|repeat"
             r"|_copy_from.*|numpy_T|_unsafe_index|index|item|_local_scalar_dense"),
    (ELEMENTWISE, r"(add|sub|rsub|mul|div|addcmul|addcdiv)_?|relu_?|clamp_min_?|clamp_?"
                  r"|threshold_backward|threshold_?|hardtanh.*|gelu.*|silu.*|sigmoid.*"
                  r"|tanh.*|exp_?|log_?|sqrt|rsqrt|pow_?|neg|abs|erf|where|sum|mean|amax"
                  r"|amin|max|min|maximum|minimum|norm|linalg_vector_norm|native_dropout.*"
                  r"|dropout|bernoulli_?|masked_fill_?|reciprocal|sign|square|var|std"
                  r"|var_mean|_softmax_backward_data|leaky_relu.*|elu.*|hardswish.*"),
]
TORCH_OP_NAMESPACES = ("aten", "prim", "mkldnn", "quantized", "xla", "_c10d_functional",
                       "mkldnn_prepacked", "prepacked")
# record functions that are not ops but hold op time: a TorchScript method's own self time
# is mostly the ops a frozen graph runs without a record (oneDNN prepacked convolutions)
TORCH_UNRECORDED_OPS = ("forward",)

ORT_OPS: list[tuple[str, str]] = [
    (CONV, r"(Nhwc|Fused|QLinear)?Conv(Transpose|Integer)?|NhwcFusedConv"),
    (MATMUL, r"(Fused)?(MatMul|Gemm)(Integer|NBits)?|QLinearMatMul|QGemm|MatMulInteger16"),
    (NORM, r"BatchNormalization|(Skip|Simplified|Embed)?LayerNormalization|GroupNorm"
           r"|InstanceNormalization|SkipSimplifiedLayerNormalization|LpNormalization|LRN"),
    (POOLING, r"(Global)?(Max|Average|Lp)Pool|QLinear(Global)?AveragePool|MaxRoiPool"),
    (ATTENTION, r"(Log)?Softmax|Attention|MultiHeadAttention|GroupQueryAttention"
                r"|SoftmaxCrossEntropyLoss"),
    (LAYOUT, r"Reorder(Input|Output)|Transpose|Reshape|Flatten|(Un)?[Ss]queeze|Concat"
             r"|Split|Slice|Gather(Elements|ND)?|Identity|Expand|Pad|Shape|Tile|Memcpy.*"
             r"|SpaceToDepth|DepthToSpace|Resize|Upsample|CastLike"),
    (ALLOCATION, r"ConstantOfShape|Range"),
    (ELEMENTWISE, r"Relu|LeakyRelu|Add|Sub|Mul|Div|Sum|Sigmoid|HardSigmoid|Tanh|(Bias|Fast|Quick)?Gelu"
                  r"|BiasAdd|Erf|Sqrt|Pow|Clip|Reduce(Mean|Sum|Max|Min|L2|SumSquare)"
                  r"|Where|Dropout|Neg|Exp|Log|Cast|Abs|Min|Max|Mean|Equal|Not|Less|Greater"
                  r"|Reciprocal|HardSwish|Softplus|Elu|Selu|PRelu"),
]

TF_SCOPES: list[tuple[str, str]] = [   # matched against the scope part, before the type
    (OPTIMIZER, r"(.*/)?sgd_update(/.*)?"),
    (NORM, r"(.*/)?(moments|batchnorm|batch_normalization|layer_?norm|FusedBatchNorm\w*)"
           r"(/.*)?"),
]
TF_OPS: list[tuple[str, str]] = [   # matched against the type, "_Mkl"/"Native" removed
    (CONV, r"(PadWith)?(Fused)?(Depthwise)?Conv[23]D.*|DepthwiseConv2dNative.*"),
    (MATMUL, r"(Fused)?(Batch)?MatMul(V[23])?|Einsum"),
    (NORM, r"FusedBatchNorm.*|LayerNorm.*|LRN(Grad)?"),
    (POOLING, r"(Max|Avg)Pool(3D)?(Grad)?(V2)?(Grad)?|MaxPoolGradGrad"),
    (ATTENTION, r"(Log)?Softmax|(Sparse)?SoftmaxCrossEntropyWithLogits"),
    (OPTIMIZER, r"(Resource)?Apply(Keras)?(Momentum|GradientDescent|Adam|RMSProp)"),
    (ALLOCATION, r"Fill|ZerosLike|OnesLike|Empty|Zeros"),
    (LAYOUT, r"Transpose|Reshape|Pad(V2)?|MirrorPad|Slice|StridedSlice(Grad)?|ConcatV2"
             r"|Pack|Unpack|Split(V)?|Tile|Identity(N)?|ToTf|InputConversion|Squeeze"
             r"|ExpandDims|GatherV2|ResourceGather|Shape(N)?|ReadVariableOp|AssignVariableOp"
             r"|BroadcastTo"
             r"|HostSend|HostRecv|Send|Recv|Reorder"),
    (ELEMENTWISE, r"AddV2|Add|AddN|Sub|Mul|RealDiv|Div|DivNoNan|Relu6?(Grad)?|Elu(Grad)?"
                  r"|Sigmoid(Grad)?|Tanh(Grad)?|Rsqrt(Grad)?|Sqrt(Grad)?|Square"
                  r"|SquaredDifference|Neg|Sum|Mean|Max|Min|BiasAdd(Grad)?(V1)?|Erf|Exp|Log"
                  r"|Pow|Cast|Maximum|Minimum|Select(V2)?|Gelu(Grad)?|LeakyRelu(Grad)?|Erfc"
                  r"|RandomUniform|RandomStandardNormal|TruncatedNormal"
                  r"|Reciprocal|Equal|GreaterEqual|Less|Sign|Abs|OnesLike|Prod"),
]

MX_OPS: list[tuple[str, str]] = [   # matched with "_backward_" removed
    (CONV, r"Convolution|Deconvolution|_sg_(mkldnn|onednn)_conv"),
    (MATMUL, r"FullyConnected|dot|batch_dot|_npi_matmul|_sg_(mkldnn|onednn)_fully_connected"
             r"|linalg_gemm2?"),
    (NORM, r"BatchNorm|LayerNorm|InstanceNorm|GroupNorm|L2Normalization|LRN"),
    (OVERHEAD, r"WaitForVar"),   # the engine waiting for an array: no work of its own
    (POOLING, r"Pooling"),
    (ATTENTION, r"(log_)?softmax|SoftmaxOutput|SoftmaxActivation|pick|_contrib_.*attention.*"
                r"|masked_softmax|_sg_.*selfatt.*"),
    (OPTIMIZER, r"(multi_|preloaded_multi_|multi_mp_|mp_)?sgd(_mom)?_update|adam_update"
                r"|.*_update"),
    (ALLOCATION, r"_zeros(_without_dtype)?|_ones|_full|_empty|DeleteVariable|SetValueOp"
                 r"|zeros_like|ones_like|ResourceParallelRandomSetSeed"),
    (LAYOUT, r"Flatten|Reshape|reshape|transpose|_copy|copy|CopyCPU2CPU|CopyCPU2GPU|Pad"
             r"|CopyGPU2CPU|CopyGPU2GPU|Concat|concat|SliceChannel|split|slice|_slice_assign"
             r"|slice_axis|expand_dims|Embedding|take|_split_v2|swapaxes|SwapAxis"
             r"|broadcast_to|tile|_(mkldnn|onednn)_reorder|Reorder"),
    (ELEMENTWISE, r"Activation|LeakyReLU|relu|sigmoid|tanh|elemwise_(add|sub|mul|div)"
                  r"|_?(plus|minus|mul|div|rminus|rdiv|power|maximum|minimum)(_scalar)?"
                  r"|_(Plus|Minus|Mul|Div)|broadcast_(add|sub|mul|div|plus|minus|power)"
                  r"|add_n|ElementWiseSum|mean|sum|max|min|Dropout|clip|square|sqrt|rsqrt"
                  r"|exp|log|erf|Cast|cast|negative|abs|where|_grad_add|norm|_npi_.*"),
]

TABLES = {"pytorch": TORCH_OPS, "onnx": ORT_OPS, "tensorflow": TF_OPS, "mxnet": MX_OPS}

# Names seen on the zoo's models (tests/profile_op_names.json) that are "other" on purpose
DELIBERATE_OTHER: dict[str, tuple[str, ...]] = {
    "pytorch": ("forward",),      # TorchScript: ops a frozen graph runs unrecorded
    "onnx": (),
    "tensorflow": (),
    "mxnet": (),
}


@functools.lru_cache(maxsize=None)
def _compiled(framework: str) -> list[tuple[str, re.Pattern[str]]]:
    return [(cls, re.compile(pattern)) for cls, pattern in TABLES[framework]]


def _first(table: list[tuple[str, re.Pattern[str]]], name: str) -> str | None:
    return next((cls for cls, pattern in table if pattern.fullmatch(name)), None)


def classify(framework: str, op_name: str) -> str:
    """The class of one op name of `framework`'s profiler: one of CLASSES, or OVERHEAD for
    a framework's own bookkeeping that its profiler records (never an op)."""
    if op_name.startswith(OPTIMIZER_SCOPE):
        return OPTIMIZER
    if framework not in TABLES:
        return OTHER
    if framework == "pytorch":
        namespace, sep, op = op_name.partition("::")
        if op_name in TORCH_UNRECORDED_OPS:
            return OTHER
        if not sep or namespace not in TORCH_OP_NAMESPACES:
            return OVERHEAD    # autograd engine and nodes, optimizer Python, user scopes
        return _first(_compiled(framework), op) or OTHER
    if framework == "tensorflow":
        return _tf_class(op_name)
    if framework == "mxnet":
        op_name = op_name.removeprefix("_backward_")
    return _first(_compiled(framework), op_name) or OTHER


def _tf_class(op_name: str) -> str:
    scope, _, op_type = op_name.rpartition("/")
    if not op_type:
        return OVERHEAD   # a row of the op statistics without an op type: not an op
    for cls, pattern in _compiled_scopes():
        if scope and pattern.fullmatch(scope):
            return cls
    op_type = re.sub(r"^_?(Mkl)?(Native)?_?", "", op_type)
    return _first(_compiled("tensorflow"), op_type) or OTHER


@functools.lru_cache(maxsize=1)
def _compiled_scopes() -> list[tuple[str, re.Pattern[str]]]:
    return [(cls, re.compile(pattern)) for cls, pattern in TF_SCOPES]


def class_label(cls: str) -> str:
    """What tables and plots call a class ("layout/copies")."""
    return LABELS.get(cls, cls)
