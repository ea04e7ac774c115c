import numpy as np

from staticnet.kernels import shuffle as K
from staticnet.model import shuffled


def test_fisher_yates_swaps_as_a_python_loop_does():
    rng = np.random.default_rng(0)
    draws = np.array([rng.integers(0, i + 1) for i in range(19, 0, -1)])
    expected = list(range(20))
    for k, i in enumerate(range(19, 0, -1)):
        j = draws[k]
        expected[i], expected[j] = expected[j], expected[i]
    order = np.arange(20)
    K.fisher_yates(order, draws)
    assert order.tolist() == expected


def test_the_epoch_order_is_fisher_yates_with_one_seeded_draw_per_position():
    rs = np.random.RandomState(7)
    expected = list(range(1000))
    for i in range(999, 0, -1):  # draws one at a time, as the compiled loop used to
        j = rs.randint(0, i + 1)
        expected[i], expected[j] = expected[j], expected[i]
    assert shuffled(1000, 7).tolist() == expected
    assert shuffled(1, 7).tolist() == [0] and shuffled(0, 7).tolist() == []
