"""What this CPU can do at most, and what the networks ask of it.

* ``count_macs``: multiply-accumulates of one run of an ONNX model at a fixed input shape,
  from its own graph (Conv, Gemm and MatMul nodes, shapes by ONNX shape inference).
* ``peak_gmacs``: measured multiply-accumulate throughput of onnxruntime on this CPU, with
  the threads photoface uses: one 3x3 convolution (128 -> 128 channels, 56x56, batch 8, the
  shape of FaceNet's middle blocks), fp32, and its static int8 QDQ copy.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def count_macs(model: Path, shape: tuple[int, ...]) -> int:
    import onnx
    from onnx import shape_inference

    graph_model = onnx.load(str(model))
    dims = graph_model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, shape, strict=True):
        dim.Clear()
        dim.dim_value = value
    inferred = shape_inference.infer_shapes(graph_model).graph
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.value_info, *inferred.output, *inferred.input]
    }
    shapes |= {init.name: list(init.dims) for init in inferred.initializer}
    total = 0
    for node in inferred.node:
        if node.op_type == "Conv":
            weight = shapes[node.input[1]]  # (out, in / groups, kh, kw)
            out = shapes[node.output[0]]  # (n, out, h, w)
            total += int(np.prod(out)) * int(np.prod(weight[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            left, right = shapes[node.input[0]], shapes[node.input[1]]
            transposed = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
            total += int(np.prod(left)) * (right[0] if transposed else right[-1])
    return total


def _conv_model(folder: Path) -> tuple[Path, np.ndarray, int]:
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    batch, channels, side = 8, 128, 56
    weight = (rng.standard_normal((channels, channels, 3, 3)) * 0.05).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["output"], pads=[1, 1, 1, 1])],
        "conv",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, channels, side, side])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, channels, side, side])],
        [helper.make_tensor("w", TensorProto.FLOAT, weight.shape, weight.ravel())],
    )
    path = folder / "conv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    data = rng.standard_normal((batch, channels, side, side)).astype(np.float32)
    return path, data, batch * channels * side * side * channels * 9


def _quantized(path: Path, data: np.ndarray) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Once(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": data}])

        def get_next(self) -> dict | None:
            return next(self.items, None)

    target = path.with_name("conv-int8.onnx")
    quantize_static(
        path,
        target,
        Once(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    return target


def peak_gmacs(threads: int = 2, passes: int = 10) -> dict[str, float]:
    """GMAC/s of the convolution micro-benchmark, fp32 and int8, median of ``passes``."""
    from photoface.engine.session import create_session

    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32, data, macs = _conv_model(Path(tmp))
        for name, path in (("fp32", fp32), ("int8", _quantized(fp32, data))):
            session = create_session(path, "cpu", threads)
            session.run(None, {"input": data})
            times = []
            for _ in range(passes):
                started = time.perf_counter()
                session.run(None, {"input": data})
                times.append(time.perf_counter() - started)
            result[name] = macs / statistics.median(times) / 1e9
    return result
