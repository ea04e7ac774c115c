"""Hand-written Numba kernels on plain arrays; they know nothing of graphs.

Generated code calls these; each is tested against NumPy on its own.
"""
from .gemm import add_partials, gemm, gemm_chunk, split_mode, split_parts
from .softmax import softmax_rows, log_softmax_rows, softmax_xent, sigmoid_xent, one_hot
from .metrics import correct_binary, correct_index, correct_one_hot
from .conv import col2im, col2im_inside, im2col, im2col_channels, im2col_one_channel
from .pool import (avg_pool, avg_pool_grad, contract_blocks, max_pool, max_pool_contract_block, max_pool_grad,
                   sum_blocks)
from .rnn import copy_step, rnn_backward, rnn_forward, scatter_step
from .shuffle import fisher_yates, gather_rows
from .fastmath import exp32

__all__ = ["gemm", "gemm_chunk", "split_mode", "split_parts", "add_partials", "softmax_rows", "log_softmax_rows", "softmax_xent", "sigmoid_xent", "one_hot",
           "correct_binary", "correct_index", "correct_one_hot", "im2col", "im2col_one_channel", "im2col_channels", "col2im", "col2im_inside", "max_pool", "max_pool_grad",
           "contract_blocks", "max_pool_contract_block", "sum_blocks", "avg_pool", "avg_pool_grad", "rnn_forward", "rnn_backward", "copy_step",
           "scatter_step", "exp32", "fisher_yates", "gather_rows"]
