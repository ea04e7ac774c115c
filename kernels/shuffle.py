"""The epoch's shuffle: Fisher-Yates swaps, given the random draws.

The draws come from NumPy (RandomState(seed).randint(0, [n, n-1, ..., 2])), which gives the
same permutation the compiled loop once drew itself with Numba's generator, so seeded runs
recorded earlier still reproduce; drawing them outside the generated code saves every model
the compile time of Numba's generator (about a quarter of a second).
"""
from numba import njit

SPLIT_VALUES = 65_536  # a minibatch of at least this many values is gathered by GATHER_PARTS chunks shared among
GATHER_PARTS = 6  #      the threads (codegen/library.py split_gather), where the step's products are split too.
#                        From 262,144 to 65,536 values, W1 and W2 at batch 128 (100,352 values) trained 0.94-0.95x
#                        as long an epoch; 16,384 (batch 32) was within the noise (the 2-core Zen 5, medians of
#                        5 epochs in 3 fresh processes each, taken in turn)


@njit(cache=True, nogil=True, error_model="numpy")
def fisher_yates(order, draws):
    """Swap order[i] with order[draws[k]] for i = n-1 down to 1, k counting from 0."""
    n = order.shape[0]
    for k in range(n - 1):
        i = n - 1 - k
        j = draws[k]
        order[i], order[j] = order[j], order[i]


@njit(cache=True, nogil=True, error_model="numpy")
def gather_rows(data, order, start, out):
    """out[r] = data[order[start + r]] for every row r of out: a shuffled minibatch, copied into place."""
    for r in range(out.shape[0]):
        source = order[start + r]
        for c in range(out.shape[1]):
            out[r, c] = data[source, c]
