"""Initialisers: their arguments are checked where they are written."""
import numpy as np
import pytest

import staticnet as sn


def test_uniform_takes_a_limit_or_a_range():
    sn.seed(0)
    symmetric = sn.init.uniform(0.5)((1000,))
    shifted = sn.init.uniform(2.0, 3.0)((1000,))
    assert -0.5 <= symmetric.min() < -0.45 and 0.45 < symmetric.max() < 0.5
    assert 2.0 <= shifted.min() < 2.05 and 2.95 < shifted.max() < 3.0


@pytest.mark.parametrize("arguments, message", [
    ((-1e308, 1e308), r"the range \[-1e\+308, 1e\+308\) is wider than the largest float64 \(1\.798e\+308\): no draw "
                      r"can cover it"),
    ((1e308,), r"the range \[-1e\+308, 1e\+308\) is wider than the largest float64 .*"),
    ((0.0,), r"limit must be a finite number > 0, got 0\.0"),
    ((float("inf"),), r"limit must be a finite number > 0, got inf"),
    ((float("nan"), 1.0), r"low must be a finite number, got nan"),
    ((1.0, 1.0), r"high must be a finite number > 1, got 1\.0"),
    ((1.0, "2"), r"high must be a finite number > 1, got '2' \(str\)"),
])
def test_uniform_refuses_bounds_no_draw_can_use(arguments, message):
    with pytest.raises(sn.GraphError, match=rf"^init\.uniform at .*test_init\.py:\d+: {message}$"):
        sn.init.uniform(*arguments)


def test_a_range_inside_float64_that_overflows_float32_is_refused_by_the_parameter():
    init = sn.init.uniform(-1e300, 1e300)
    assert np.isfinite(sn.param("W", (2, 2), init=init, dtype="float64").value).all()
    with pytest.raises(sn.GraphError, match=r"'W': its init gave 4 values of 4 that are not finite in float32"):
        sn.param("W", (2, 2), init=init)
