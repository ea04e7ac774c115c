"""Why the cross-entropy learns where the quadratic cost stalls: the cost of y = sigmoid(w2 sigmoid(w1 x)) over a
grid of (w1, w2), for one example, as two surfaces (the seed lecture on feed-forward networks, figure 4.9;
Glorot and Bengio, 2010, figure 5).

The grid points are the rows of one batch: w1 and w2 are inputs of shape (None, 1), so a single call of one
compiled staticnet function gives both costs and their gradients at every point.  Where the output saturates
on the wrong side, the quadratic cost is flat (its gradient carries sigma'(z2), near 0) while the cross-entropy
keeps a slope of about x and w2 sigma'(w1 x).

    python examples/loss_surface.py [--x 1.0] [--target 1.0] [--extent 6] [--points 121] [--plot surfaces.png]
"""
import argparse

import numpy as np

import staticnet as sn


def cost_function(x: float, target: float):
    """The compiled function from grid points (w1, w2) to (quadratic cost, cross-entropy, |grad quadratic|,
    |grad cross-entropy|), each (points, 1), for the example (x, target)."""
    w1, w2 = sn.input("w1", (None, 1), dtype="float64"), sn.input("w2", (None, 1), dtype="float64")
    z2 = w2 * sn.sigmoid(w1 * x)
    quadratic = 0.5 * sn.square(sn.sigmoid(z2) - target)
    cross_entropy = sn.softplus(z2) - target * z2  # -[t ln y + (1 - t) ln(1 - y)] for y = sigmoid(z2), from z2
    slopes = []
    for cost in (quadratic, cross_entropy):
        # each row's cost depends on that row's weights alone, so the gradient of the sum is each row's own
        d_w1, d_w2 = sn.grad(sn.sum(cost), [w1, w2])
        slopes.append(sn.sqrt(sn.square(d_w1) + sn.square(d_w2)))
    return sn.function([w1, w2], [quadratic, cross_entropy, *slopes])


def surfaces(x: float, target: float, extent: float, points: int):
    """(w1 grid, w2 grid, quadratic, cross-entropy, their gradients' lengths), each (points, points)."""
    axis = np.linspace(-extent, extent, points)
    w1, w2 = np.meshgrid(axis, axis)
    values = cost_function(x, target)(w1.reshape(-1, 1), w2.reshape(-1, 1))
    return (w1, w2, *[v.reshape(w1.shape) for v in values])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x", type=float, default=1.0, help="the example's input (default: 1)")
    parser.add_argument("--target", type=float, default=1.0, help="its target, in [0, 1] (default: 1)")
    parser.add_argument("--extent", type=float, default=6.0, help="the grid spans [-extent, extent]^2 (default: 6)")
    parser.add_argument("--points", type=int, default=121, help="grid points along each axis (default: 121)")
    parser.add_argument("--plot", default="loss_surface.png", help="the PNG to write (default: loss_surface.png)")
    args = parser.parse_args()
    w1, w2, quadratic, cross_entropy, quadratic_slope, cross_entropy_slope = surfaces(
        args.x, args.target, args.extent, args.points)
    worst = np.unravel_index(np.argmax(cross_entropy), w1.shape)  # the most wrong output, for both costs
    print(f"at (w1, w2) = ({w1[worst]:g}, {w2[worst]:g}), where the output is most wrong: quadratic cost "
          f"{quadratic[worst]:.3f} with |gradient| {quadratic_slope[worst]:.2g}, cross-entropy "
          f"{cross_entropy[worst]:.3f} with |gradient| {cross_entropy_slope[worst]:.2g}")

    from staticnet.plot import _pyplot
    plt = _pyplot()
    fig = plt.figure(figsize=(12, 5))
    for i, (label, cost) in enumerate((("quadratic cost", quadratic), ("cross-entropy", cross_entropy)), start=1):
        ax = fig.add_subplot(1, 2, i, projection="3d")
        ax.plot_surface(w1, w2, cost, cmap="viridis", linewidth=0, antialiased=True)
        ax.set(title=f"{label}, x = {args.x:g}, target {args.target:g}", xlabel="w1", ylabel="w2", zlabel="cost")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    print(f"surfaces: {args.plot}")


if __name__ == "__main__":
    main()
