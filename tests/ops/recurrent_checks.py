"""What the LSTM's and the GRU's tests share: every BPTT gradient against central differences of the layer's
equations written in NumPy (PyTorch's layout), not of staticnet's own reference."""
import numpy as np

import staticnet as sn
from tests.conftest import central_difference


def check_bptt_against_the_equations(build, equations, from_staticnet, backend):
    """Every gradient (input, then each parameter) of sum(h * weights) for a layer made by `build`, computed by
    `backend`, against central differences of equations(x, *from_staticnet(*params))."""
    rng = np.random.default_rng(1)
    x, h, params = build(steps=4, features=2, hidden=3, batch=2)
    for p in params:
        p.value = rng.normal(scale=0.7, size=p.shape)
    weights = rng.normal(size=(2, 4, 3))
    loss = sn.sum(h * sn.constant(weights))
    xv = rng.normal(size=(2, 4, 2))
    analytic = sn.function([x], sn.grad(loss, [x] + params), backend=backend)(xv)
    values = [xv] + [p.value.copy() for p in params]

    def cost(k):
        def at(v):
            args = list(values)
            args[k] = v
            return float(np.sum(equations(args[0], *from_staticnet(*args[1:])) * weights))
        return at

    for k, value in enumerate(values):
        np.testing.assert_allclose(analytic[k], central_difference(cost(k), value.copy()), rtol=1e-6, atol=1e-9,
                                   err_msg=f"gradient {k}")
