"""Hand-written Numba kernels on plain arrays; they know nothing of graphs.

Generated code calls these; each is tested against NumPy on its own.
"""
from .gemm import gemm
from .softmax import softmax_rows, log_softmax_rows, softmax_xent, sigmoid_xent, one_hot
from .metrics import correct_binary, correct_index, correct_one_hot

__all__ = ["gemm", "softmax_rows", "log_softmax_rows", "softmax_xent", "sigmoid_xent", "one_hot",
           "correct_binary", "correct_index", "correct_one_hot"]
