"""Hand-written Numba kernels on plain arrays; they know nothing of graphs.

Generated code calls these; each is tested against NumPy on its own.
"""
from .gemm import gemm, gemm_split
from .softmax import softmax_rows, log_softmax_rows, softmax_xent, sigmoid_xent, one_hot
from .metrics import correct_binary, correct_index, correct_one_hot
from .conv import col2im, im2col
from .pool import avg_pool, avg_pool_grad, max_pool, max_pool_contract, max_pool_grad
from .rnn import rnn_backward, rnn_forward
from .shuffle import fisher_yates
from .fastmath import exp32

__all__ = ["gemm", "gemm_split", "softmax_rows", "log_softmax_rows", "softmax_xent", "sigmoid_xent", "one_hot",
           "correct_binary", "correct_index", "correct_one_hot", "im2col", "col2im", "max_pool", "max_pool_grad",
           "max_pool_contract", "avg_pool", "avg_pool_grad", "rnn_forward", "rnn_backward", "exp32", "fisher_yates"]
