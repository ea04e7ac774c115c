"""What ONNX export and import share, with the ops' ONNX forms: the optional `onnx` package, the opsets staticnet
writes, an export form's Plan and what an import form raises.

The onnx package is imported only when a model is exported or imported, so that staticnet itself (and
NumPy-only inference of .snet files) works without it; its absence is one message naming that one package
(the `onnx` extra also installs onnxruntime, which only the tests use, to check the files written).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import MissingDependency

DEFAULT_OPSET = 17  # read by every current ONNX runtime; newer opsets add native Gelu (20) and Swish (24)
MIN_OPSET = 13  # Softmax's single-axis meaning and ReduceSum's axes input, which the export relies on


TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)  # staticnet's images are NHWC, ONNX's Conv and pools NCHW


@dataclass(frozen=True)
class Plan:
    """How one staticnet node becomes ONNX, as an op's `onnx_export(node, builder)` rule says (the rules live
    beside each op in staticnet/ops/; the builder is onnx_export.Builder): the tensors whose ONNX values it
    reads, and emit(builder, their value names, the name its result must take or None) -> its result's name.
    Its operands need not be the node's inputs: a Conv reads the image under im2col."""
    operands: tuple
    emit: Callable


class Unsupported(Exception):
    """What an op's ONNX import form cannot take (an attribute value, an operand computed where staticnet needs it
    known); onnx_import.py adds the file, the ONNX node and its op type."""


def number_attribute(attrs, name: str, default: float, allowed) -> float:
    """A node's float attribute (or its ONNX default) inside `allowed` (a checks.Interval): a file's epsilon of
    -1 or NaN would otherwise compute NaN with no error."""
    value = float(attrs.take(name, default))
    if value not in allowed:
        raise Unsupported(f"{name}={value!r}: it must be {allowed}")
    return value


def same_operands(build):
    """The import form of an ONNX op that staticnet's builder `build` computes from the same operands, without
    attributes."""
    return lambda importer, operands, attrs: [build(*(importer.tensor(x) for x in operands))]


def conv_attributes(attrs) -> dict:
    """ONNX Conv's attributes for an im2col node's window (its pads are top, bottom, left, right)."""
    pt, pb, pl, pr = attrs["pads"]
    return {"kernel_shape": [attrs["kh"], attrs["kw"]], "strides": [attrs["sh"], attrs["sw"]],
            "pads": [pt, pl, pb, pr]}


def require_onnx(purpose: str):
    """The onnx module, or MissingDependency saying what needs it and how to install it."""
    try:
        import onnx
    except ImportError:
        raise MissingDependency(f"{purpose} needs the onnx package: pip install onnx") from None
    return onnx


def checked_opset(onnx, opset) -> int:
    """The opset to write: DEFAULT_OPSET for None, else an int the installed onnx package knows."""
    if opset is None:
        return DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be an integer from {MIN_OPSET} to {newest} (the newest this onnx package "
                         f"knows), got {opset!r}")
    return opset
