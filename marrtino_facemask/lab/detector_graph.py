"""Two rewrites of CenterFace's int8 graph that make it faster on the CPU and change none of
its output values. ``quantize`` applies them to the file that it writes.

1. **The frame goes in as it is**: input ``image``, uint8, (1, height, width, 3), BGR: the
   bytes of a ``bgr8`` frame at the net's input size, instead of a float32 planar RGB blob.
   - The int8 graph quantizes its input with scale 1 and zero point 0 (pixels are the
     integers 0 to 255), so the bytes are exactly what its first layer read before. The
     colour order is folded into that layer's weights. This drops the float blob, its
     quantization and one change of layout.
   - That first layer, a 3x3 convolution with stride 2 on 3 channels, becomes a 2x2
     convolution with stride 1 on the frame cut into 2x2 cells (SpaceToDepth: 12 channels).
     Each output sums the same products of the same integers; the added weights are zero.
     ONNX Runtime's int8 kernels run it about 4 times as fast: with 3 input channels they
     waste most of each vector.
2. **One output layer instead of four**: the heatmap, size, offset and landmark layers are
   1x1 float convolutions of the same features. They become one convolution with all their
   channels, then a Split, so those features are re-laid out and read once, not four times.

ONNX Runtime has no such rewrites of its own (its optimizer keeps the graph's layers), so
they are done here, on the ONNX graph, with the ``onnx`` package. Each one checks the pattern
that it rewrites and raises :class:`GraphRewriteError` with a one-line reason otherwise.
"""

import numpy as np

FRAME_INPUT = "image"
FRAME_INPUT_NOTE = "image: uint8 (1, height, width, 3), BGR (a bgr8 frame at the net's size)"
REWRITES_NOTE = ("detector_graph.py: uint8 BGR frame input, first layer on 2x2 cells "
                 "(SpaceToDepth), one output convolution; outputs unchanged")
CELL = 2   # the first layer's stride: the side of the cells of SpaceToDepth


class GraphRewriteError(ValueError):
    """A graph without the pattern that a rewrite expects; ``str(exc)`` is one line."""


def rewrite_for_speed(model):
    """Both rewrites, in place, on an int8 CenterFace ``onnx.ModelProto``; returns it."""
    frame_input(model)
    merge_output_layers(model)
    return model


def _attrs(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Graph:
    """Lookups over an ``onnx.GraphProto``: producers, consumers and initializers."""

    def __init__(self, graph):
        self.graph = graph
        self.inits = {t.name: t for t in graph.initializer}
        self.producer = {out: n for n in graph.node for out in n.output}
        self.consumers = {}
        for n in graph.node:
            for name in n.input:
                self.consumers.setdefault(name, []).append(n)

    def array(self, name):
        from onnx import numpy_helper
        if name not in self.inits:
            raise GraphRewriteError(f"'{name}' is not a constant of the graph")
        return numpy_helper.to_array(self.inits[name])

    def set_array(self, name, array):
        from onnx import numpy_helper
        self.inits[name].CopyFrom(numpy_helper.from_array(array, name))

    def only_consumer(self, name, op_type):
        users = self.consumers.get(name, [])
        if len(users) != 1 or users[0].op_type != op_type:
            raise GraphRewriteError(f"'{name}' should feed one {op_type} node, not "
                                    f"{[u.op_type for u in users]}")
        return users[0]


def space_to_depth_weights(weights):
    """Weights (O, C, 3, 3) of a 3x3 convolution with stride 2 and padding 1 as the weights
    (O, 4C, 2, 2) of the same convolution on SpaceToDepth(2) cells, stride 1, padded by one
    cell above and left only.

    Output (i, j) reads rows 2i-1 to 2i+1: row 2i+dy is row ``dy mod 2`` of cell ``i +
    dy // 2``, that is of cell i-1 or i. SpaceToDepth (DCR) puts row r, column s and channel
    c of a cell at channel (2r + s) C + c.
    """
    out, channels = weights.shape[:2]
    cells = np.zeros((out, CELL * CELL * channels, 2, 2), weights.dtype)
    for ky in range(3):
        for kx in range(3):
            cell_y, row = divmod(ky - 1, CELL)
            cell_x, col = divmod(kx - 1, CELL)
            first = (row * CELL + col) * channels
            cells[:, first:first + channels, cell_y + 1, cell_x + 1] = weights[:, :, ky, kx]
    return cells


def frame_input(model):
    """Rewrite 1 (module docstring): the graph's float RGB input and its quantization become
    the uint8 BGR frame input :data:`FRAME_INPUT`, cut into cells for a 2x2 first layer.
    """
    from onnx import TensorProto, helper
    graph = model.graph
    g = _Graph(graph)
    if len(graph.input) != 1 or graph.input[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        raise GraphRewriteError("the graph should have one float input (the RGB blob)")
    blob = graph.input[0].name
    quantize = g.only_consumer(blob, "QuantizeLinear")
    scale, zero = g.array(quantize.input[1]), g.array(quantize.input[2])
    if scale.size != 1 or float(scale) != 1.0 or zero.dtype != np.uint8 or int(zero) != 0:
        raise GraphRewriteError(f"the input is quantized with scale {scale.ravel()[:1]} and zero "
                                f"point {zero.ravel()[:1]}, not 1 and 0 (uint8): the bytes of "
                                "a frame are not its int8 input")
    dequantize = g.only_consumer(quantize.output[0], "DequantizeLinear")
    conv = g.only_consumer(dequantize.output[0], "Conv")
    attrs = _attrs(conv)
    if (attrs.get("kernel_shape") != [3, 3] or attrs.get("strides") != [CELL, CELL]
            or attrs.get("pads") != [1, 1, 1, 1] or attrs.get("group", 1) != 1
            or attrs.get("dilations", [1, 1]) != [1, 1]):
        raise GraphRewriteError(f"the first layer should be a 3x3 convolution with stride 2 "
                                f"and padding 1, not {attrs}")
    weight_dq = g.producer.get(conv.input[1])
    if weight_dq is None or weight_dq.op_type != "DequantizeLinear":
        raise GraphRewriteError("the first layer's weights should be int8 (DequantizeLinear)")
    if g.array(weight_dq.input[1]).size > 1 and _attrs(weight_dq).get("axis", 1) != 0:
        raise GraphRewriteError("the first layer's weights should be quantized per output "
                                "channel (axis 0) or per tensor")
    if len(g.consumers[weight_dq.input[0]]) != 1:
        raise GraphRewriteError("the first layer's weights are shared with another layer")
    weights = g.array(weight_dq.input[0])
    if weights.shape[1] != 3:
        raise GraphRewriteError(f"the first layer should read 3 channels, not {weights.shape[1]}")
    # RGB -> BGR: the frame's channel order, folded into the weights
    g.set_array(weight_dq.input[0], space_to_depth_weights(weights[:, ::-1]))
    del conv.attribute[:]
    conv.attribute.extend([helper.make_attribute("kernel_shape", [2, 2]),
                           helper.make_attribute("strides", [1, 1]),
                           helper.make_attribute("pads", [1, 1, 0, 0]),
                           helper.make_attribute("dilations", [1, 1]),
                           helper.make_attribute("group", 1)])
    del graph.value_info[:]   # shapes of the old input's path; ONNX Runtime infers them
    new_nodes, cells = _cell_nodes(graph)
    dequantize.input[0] = cells
    graph.node.remove(quantize)
    for i, node in enumerate(new_nodes):
        graph.node.insert(i, node)
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(FRAME_INPUT, TensorProto.UINT8,
                                                     [1, "height", "width", 3]))
    return model


def _cell_nodes(graph):
    """Nodes that cut :data:`FRAME_INPUT` (1, H, W, 3) into 2x2 cells (1, 12, H/2, W/2), in
    SpaceToDepth's (DCR) channel order, and the name of their output.

    Reshape and Transpose rather than SpaceToDepth: ONNX Runtime 1.18, the oldest that opens
    our int8 files (ort_session.MIN_VERSION), has no uint8 SpaceToDepth; 1.32 has one. The
    cells are cut in the frame's own layout, channels last, which ONNX Runtime's int8
    convolutions use: it drops the final Transpose to planar against its own one back.
    """
    from onnx import TensorProto, helper, numpy_helper
    name = FRAME_INPUT + "_cells"
    consts = {"one": [1], "two": [CELL], "three": [3], "cell_area": [CELL * CELL * 3],
              "hw_start": [1], "hw_end": [3], "h_idx": [0], "w_idx": [1]}
    graph.initializer.extend(numpy_helper.from_array(np.array(v, np.int64), f"{name}.{k}")
                             for k, v in consts.items())

    def c(key):
        return f"{name}.{key}"

    def node(op, inputs, out, **attrs):
        return helper.make_node(op, inputs, [f"{name}.{out}"], name=f"{name}.{out}", **attrs)
    nodes = [
        node("Shape", [FRAME_INPUT], "shape"),
        node("Slice", [f"{name}.shape", c("hw_start"), c("hw_end")], "hw"),
        node("Div", [f"{name}.hw", c("two")], "half"),
        node("Gather", [f"{name}.half", c("h_idx")], "h2", axis=0),
        node("Gather", [f"{name}.half", c("w_idx")], "w2", axis=0),
        node("Concat", [c("one"), f"{name}.h2", c("two"), f"{name}.w2", c("two"), c("three")],
             "split_shape", axis=0),
        node("Concat", [c("one"), f"{name}.h2", f"{name}.w2", c("cell_area")], "cells_shape",
             axis=0),
        # (1, H/2, 2, W/2, 2, 3) -> (1, H/2, W/2, row, column, channel)
        node("Reshape", [FRAME_INPUT, f"{name}.split_shape"], "split"),
        node("Transpose", [f"{name}.split"], "cells_last", perm=[0, 1, 3, 2, 4, 5]),
        node("Reshape", [f"{name}.cells_last", f"{name}.cells_shape"], "nhwc"),
    ]
    nodes.append(helper.make_node("Transpose", [f"{name}.nhwc"], [name], perm=[0, 3, 1, 2],
                                  name=name))
    # The shapes, with symbolic sides: from a Reshape to a computed shape ONNX Runtime infers
    # none, and without them it keeps every int8 layer planar (twice as slow here).
    uint8 = TensorProto.UINT8
    graph.value_info.extend([
        helper.make_tensor_value_info(f"{name}.split", uint8, [1, "h2", CELL, "w2", CELL, 3]),
        helper.make_tensor_value_info(f"{name}.cells_last", uint8, [1, "h2", "w2", CELL, CELL, 3]),
        helper.make_tensor_value_info(f"{name}.nhwc", uint8, [1, "h2", "w2", CELL * CELL * 3]),
        helper.make_tensor_value_info(name, uint8, [1, CELL * CELL * 3, "h2", "w2"])])
    return nodes, name


def merge_output_layers(model, activations=("Sigmoid",)):
    """Rewrite 2 (module docstring): the float 1x1 convolutions that make the graph's outputs
    (through an optional ``activations`` node) become one convolution and a Split.
    """
    from onnx import helper
    graph = model.graph
    g = _Graph(graph)
    heads = []
    for output in graph.output:
        node = g.producer.get(output.name)
        if node is not None and node.op_type in activations:
            node = g.producer.get(node.input[0])
        if node is None or node.op_type != "Conv" or len(node.input) != 3:
            raise GraphRewriteError(f"output '{output.name}' should come from a convolution "
                                    "with a bias")
        if _attrs(node).get("kernel_shape") != [1, 1] or node.input[1] not in g.inits:
            raise GraphRewriteError(f"output '{output.name}' should come from a 1x1 "
                                    "convolution with float weights")
        heads.append(node)
    if len({h.input[0] for h in heads}) != 1:
        raise GraphRewriteError("the output layers should all read the same features")
    weights = [g.array(h.input[1]) for h in heads]
    biases = [g.array(h.input[2]) for h in heads]
    first = min(list(graph.node).index(h) for h in heads)
    for h in heads:
        graph.node.remove(h)
    for name in {n for h in heads for n in h.input[1:]}:
        graph.initializer.remove(g.inits[name])
    from onnx import numpy_helper
    graph.initializer.extend([
        numpy_helper.from_array(np.concatenate(weights), "output_layers.weight"),
        numpy_helper.from_array(np.concatenate(biases), "output_layers.bias"),
        numpy_helper.from_array(np.array([len(w) for w in weights], np.int64),
                                "output_layers.split")])
    merged = helper.make_node("Conv", [heads[0].input[0], "output_layers.weight",
                                       "output_layers.bias"], ["output_layers"],
                              kernel_shape=[1, 1], name="output_layers")
    split = helper.make_node("Split", ["output_layers", "output_layers.split"],
                             [h.output[0] for h in heads], axis=1, name="output_layers_split")
    graph.node.insert(first, split)
    graph.node.insert(first, merged)
    return model
