"""``onnx:PATH`` — an ONNX image model converted to PyTorch with onnx2torch, split into features and source head.

The converted ``torch.fx`` graph is cut at the input of its final linear classifier (``MatMul`` [+ ``Add``] or
``Gemm``, before an optional ``Softmax``): everything up to that input is the feature extractor, the classifier
(without softmax) is the head. A graph that does not end in a linear classifier is used whole as the extractor.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import fx, nn

from transfer_core.models.assemble import CardFacts, Network, assemble
from transfer_core.models.base import LoadedModel, Preprocessing
from transfer_core.models.errors import ModelLoadError
from transfer_core.models.extractors import GlobalPool

# onnx2torch's Slice indexes with a list (a torch deprecation notice on every forward pass); harmless here.
warnings.filterwarnings("ignore", message="Using a non-tuple sequence", category=UserWarning, module="onnx2torch")


def read_onnx(path: str | Path):
    """The ONNX model proto, with a clear error when the file is missing or not ONNX."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"ONNX file not found: {path}")
    try:
        return onnx.load(str(path))
    except Exception as error:  # protobuf raises DecodeError and friends
        raise ModelLoadError(_cannot_convert(path, error)) from error


def _cannot_convert(path: Path, error: Exception) -> str:
    return (
        f"onnx2torch cannot convert {path} ({type(error).__name__}: {error}). Export the model with standard "
        "operators (opset ≥ 11), or save its PyTorch weights and use `file:PATH?arch=TIMM_NAME`."
    )


def convert_onnx(proto, path: Path) -> fx.GraphModule:
    """onnx2torch conversion with NCHW input (a channels-last export gets a permute in front)."""
    from onnx2torch import convert

    try:
        graph = convert(proto)
    except Exception as error:  # onnx2torch raises many types for unsupported graphs
        raise ModelLoadError(_cannot_convert(path, error)) from error
    if _channels_last(_input_dims(proto)):
        _permute_input_to_channels_last(graph)
    return graph


def _input_dims(proto) -> list[int]:
    shape = proto.graph.input[0].type.tensor_type.shape
    return [dim.dim_value for dim in shape.dim]  # 0 where the size is symbolic


def _channels_last(dims: list[int]) -> bool:
    """NHWC when the last axis looks like colour channels and the second does not."""
    return len(dims) == 4 and dims[3] in (1, 3) and dims[1] not in (1, 3)


def onnx_preprocessing(proto) -> Preprocessing:
    """Input size and channel count from the ONNX input (224 where symbolic); ImageNet mean/std are assumed."""
    dims = _input_dims(proto)
    channels, height, width = (dims[3], dims[1], dims[2]) if _channels_last(dims) else (dims[1:] + [0, 0, 0])[:3]
    height, width = height or 224, width or 224
    if channels == 1:
        return Preprocessing(input_size=(height, width), resize=min(height, width), mean=(0.5,), std=(0.5,),
                             channels="L")
    return Preprocessing(input_size=(height, width), resize=round(min(height, width) / 0.875))


def _permute_input_to_channels_last(graph: fx.GraphModule) -> None:
    placeholder = next(node for node in graph.graph.nodes if node.op == "placeholder")
    with graph.graph.inserting_after(placeholder):
        permuted = graph.graph.call_method("permute", (placeholder, 0, 2, 3, 1))
    placeholder.replace_all_uses_with(permuted, delete_user_cb=lambda user: user is not permuted)
    graph.recompile()


def _module(graph: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    return graph.get_submodule(node.target) if node.op == "call_module" else None


def _kind(graph: fx.GraphModule, node: fx.Node) -> str:
    """'softmax', 'add', 'mul', 'sub', 'div', 'linear', 'matmul' or '' for the node's operation."""
    from onnx2torch.node_converters.activations import OnnxSoftmaxV1V11
    from onnx2torch.node_converters.binary_math_operations import OnnxBinaryMathOperation
    from onnx2torch.node_converters.gemm import OnnxGemm
    from onnx2torch.node_converters.matmul import OnnxMatMul

    module = _module(graph, node)
    if isinstance(module, (nn.Softmax, nn.LogSoftmax, OnnxSoftmaxV1V11)):
        return "softmax"
    if isinstance(module, OnnxBinaryMathOperation):
        return module.math_op_function.__name__.removeprefix("_onnx_")
    if isinstance(module, (nn.Linear, OnnxGemm)):
        return "linear"
    if isinstance(module, OnnxMatMul):
        return "matmul"
    return ""


def _data_input(node: fx.Node) -> fx.Node:
    """The argument of ``node`` that is computed (not a stored constant)."""
    return next(arg for arg in node.args if isinstance(arg, fx.Node) and arg.op != "get_attr")


def subgraph(graph: fx.GraphModule, output: fx.Node, cut: fx.Node | None = None) -> fx.GraphModule:
    """The part of ``graph`` that computes ``output``; with ``cut``, that node becomes the input."""
    needed, stack = set(), [output]
    while stack:
        node = stack.pop()
        if node in needed:
            continue
        needed.add(node)
        if node is not cut:
            stack.extend(node.all_input_nodes)
    new_graph, env = fx.Graph(), {}
    if cut is not None:
        env[cut] = new_graph.placeholder("features")
    for node in graph.graph.nodes:
        if node in needed and node not in env:
            env[node] = new_graph.node_copy(node, lambda arg: env[arg])
    new_graph.output(env[output])
    return fx.GraphModule(graph, new_graph)


def split_graph(graph: fx.GraphModule) -> tuple[nn.Module, nn.Module | None]:
    """(features extractor [B, D], head giving logits) — or (whole graph pooled, None) without a linear classifier."""
    output = next(node for node in graph.graph.nodes if node.op == "output").args[0]
    output = output[0] if isinstance(output, (tuple, list)) else output
    logits = output.args[0] if _kind(graph, output) == "softmax" else output
    linear = logits
    if _kind(graph, logits) == "add" and any(isinstance(a, fx.Node) and a.op == "get_attr" for a in logits.args):
        linear = _data_input(logits)
    if _kind(graph, linear) not in ("linear", "matmul"):
        return GlobalPool(subgraph(graph, logits)), None
    features = _data_input(linear)
    return GlobalPool(subgraph(graph, features)), subgraph(graph, logits, cut=features)


@torch.no_grad()
def randomize_graph(graph: fx.GraphModule) -> None:
    """Fresh initialisation of a converted graph (call under a seeded RNG).

    Modules reset their own parameters; constants feeding a ``MatMul`` are drawn like ``nn.Linear`` weights
    (uniform ±1/√fan_in), constants of ``Mul``/``Div`` become 1 and of ``Add``/``Sub`` become 0 (a fresh BatchNorm
    or bias). Any other floating constant means the graph is not understood, and is an error.
    """
    for module in graph.modules():
        if module is not graph and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    for node in graph.graph.nodes:
        kind = _kind(graph, node)
        for arg in node.args:
            if not (isinstance(arg, fx.Node) and arg.op == "get_attr"):
                continue
            constant = graph.get_buffer(arg.target)
            if not constant.is_floating_point():
                continue
            if kind == "matmul":
                bound = constant.shape[0] ** -0.5
                constant.uniform_(-bound, bound)
            elif kind in ("mul", "div"):
                constant.fill_(1.0)
            elif kind in ("add", "sub"):
                constant.fill_(0.0)
            else:
                raise ModelLoadError(f"cannot build a random-init copy of this ONNX graph (constant used by "
                                     f"{node.name})")


def onnx_network(path: str | Path, preprocessing: Preprocessing | None = None, *, pretrained: bool = True) -> Network:
    """Features + head of an ONNX file; ``preprocessing`` defaults to what the file's input shape says."""
    proto = read_onnx(path)
    graph = convert_onnx(proto, Path(path))
    if not pretrained:
        randomize_graph(graph)
    features, head = split_graph(graph)
    return Network(features=features, preprocessing=preprocessing or onnx_preprocessing(proto), head=head,
                   layers_of=graph)


def load_onnx(path: str, layer: str | None) -> LoadedModel:
    facts = CardFacts(
        architecture="ONNX graph (onnx2torch)",
        pretrained_on="user checkpoint",
        licence="as licensed by the model's author",
        source=path,
        notes="preprocessing assumed: the ONNX input size, ImageNet mean/std",
    )
    return assemble(f"onnx:{path}", onnx_network(path), facts, layer)
