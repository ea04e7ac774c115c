"""Hand-written Numba kernels on plain arrays; they know nothing of graphs.

Generated code calls these as K.<module>.<function> (K is this package): an op's lowering hands the kernel
itself to the code generator (driver.library), which writes that path, so no list of kernels is kept here.
Each is tested against NumPy on its own (tests/kernels/).
"""
from . import (batch_norm, choice, conv, embedding, fastmath, finite, gemm, gru, lstm, metrics, norms, pool,  # noqa: F401
               rnn, shuffle, slicing, softmax)  # K.<module> in generated code
