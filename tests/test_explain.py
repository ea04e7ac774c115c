"""staticnet explain: the generated training loop annotated in the book's notation.

The annotated loop of the book's 784-30-10 network is pinned in tests/golden/ (kernel hashes masked); to
change it deliberately, run with STATICNET_UPDATE_GOLDEN=1 and review the diff."""
import os
import re

import pytest

import staticnet as sn
from staticnet.explain import explain_source

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "mnist_mlp_explain.txt")
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "mnist_mlp.py")


def masked(text: str) -> str:
    return re.sub(r"_[0-9a-f]{8}(?=\b|_)", "_########", text)


def blocks(source: str) -> list[tuple[list[str], list[str]]]:
    """(comment lines, code lines) of each node of the step, in order."""
    found, comments, code = [], [], []
    for line in source.split("# ---- the step ----", 1)[1].splitlines():
        text = line.strip()
        if text.startswith("#"):
            if code:
                found.append((comments, code))
                comments, code = [], []
            comments.append(text[2:])
        elif text:
            code.append(text)
    found.append((comments, code))
    return found


def book_network(optimizer=None):
    sn.seed(0)
    x, y = sn.input("x", (None, 784)), sn.input("y", (None, 10))
    h = sn.dense(x, 30, activation="sigmoid")
    p = sn.dense(h, 10, activation="sigmoid")
    return sn.compile(sn.mse(p, y), outputs=p, optimizer=optimizer or sn.SGD(lr=3.0))


def test_the_books_network_explains_as_the_golden_file_says(capsys):
    from staticnet.cli import main
    assert main(["explain", os.path.relpath(EXAMPLE)]) == 0
    text = masked(capsys.readouterr().out)
    if os.environ.get("STATICNET_UPDATE_GOLDEN"):
        with open(GOLDEN, "w") as f:
            f.write(text)
    with open(GOLDEN) as f:
        assert text == f.read()


def test_each_equation_stands_above_the_code_that_computes_it():
    source = explain_source(book_network())
    where = {}  # equation -> the code lines under it
    for comments, code in blocks(source):
        for comment in comments:
            if comment.startswith(("BP", "SGD", "z^", "a^")):
                where.setdefault(comment.split("   ")[0], []).append(" ".join(code))
    expected = {
        "z^1 = a^0 @ W^1 + b^1": "dense1_a = b", "a^1 = sigmoid(z^1)": "dense1_a = b",
        "BP1  delta^2 = dC/da^2 * sigmoid'(z^2)": "delta_dense2 = b",
        "BP2, its product: dC/da^1 = delta^2 @ W^2.T": "grad_dense1_a = b",
        "BP2  delta^1 = (delta^2 @ W^2.T) * sigmoid'(z^1)": "delta_dense1 = b",
        "BP3  dC/db^2 = sum over the batch of delta^2": "grad_dense2_b = b",
        "BP3  dC/db^1 = sum over the batch of delta^1": "grad_dense1_b = b",
        "BP4  dC/dW^1 = a^0.T @ delta^1": "(x, n, s0, delta_dense1,",
        "BP4  dC/dW^2 = a^1.T @ delta^2": "(dense1_a, n, s2, delta_dense2,",
        "SGD  W^1 <- W^1 - eta dC/dW^1": ", dense1_W, s0, s2, 1, 0,",
        "SGD  b^2 <- b^2 - eta dC/db^2": "grad_dense2_b, dense2_b)",
    }
    for equation, code in expected.items():
        assert len(where.get(equation, [])) == 1, (equation, sorted(where))
        assert code in where[equation][0], (equation, where[equation][0])


def test_every_node_number_is_the_training_graphs_and_names_its_values():
    model = book_network()
    listing = sn.describe(list(model.training_roots)).splitlines()
    source = explain_source(model)
    numbered = re.findall(r"# (%\d+) (?:(\w+) = )?(.+?)   \((?:None, )?[\d, ]*\) float32", source)
    assert len(numbered) >= 15
    for number, name, _ in numbered:
        row = next(r for r in listing if r.split()[0] == number)  # the number exists in the graph listing
        if name == "delta_dense2":
            assert " mul(" in row  # the last factor of delta^L = ... * sigma'(z^L)
    assert "v27" not in source and "np.float64(" not in source and "part(" not in source


def test_optimizer_updates_carry_their_formulas_and_a_cnn_its_convolutions():
    source = explain_source(book_network(sn.Adam(lr=0.001)))
    assert "Adam (b1 = 0.9, b2 = 0.999, eps = 1e-08)  m <- b1 m + (1 - b1) dC/dW^1" in source
    assert source.count("W^2 <- W^2 - eta m_hat / (sqrt(v_hat) + eps)") == 1
    sn.seed(0)
    x, y = sn.input("x", (None, 12, 12, 1)), sn.input("y", (None, 3))
    h = sn.max_pool2d(sn.conv2d(x, 4, 5, activation="relu"), 2)
    p = sn.dense(sn.flatten(h), 3, activation="softmax")
    source = explain_source(sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1)))
    assert "z^1 = conv(a^0, W^1) + b^1" in source
    assert "BP1  delta^2 = (a^2 - y) / n: softmax with its cross-entropy" in source
    assert "BP4  dC/dW^1 = im2col(a^0).T @ delta^1" in source and "BP3  dC/db^1" in source
    assert "z^2 = a^1 @ W^2 + b^2" in source and "%1 to %12: each tile" in source
    assert "softmax_xent: from the logits" in source


@pytest.mark.parametrize("name", ["n", "total", "b3", "v2", "range", "data_x", "x_deadbeef"])
def test_a_layer_named_like_the_generators_own_names_still_compiles(name):
    sn.seed(0)
    x, y = sn.input(name, (None, 3)), sn.input("y", (None, 2))  # an input of that name too
    p = sn.dense(x, 2, activation="sigmoid", name=name)
    model = sn.compile(sn.mse(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    data = {name: [[1.0, 2.0, 3.0]] * 4, "y": [[0.0, 1.0]] * 4}
    reference = sn.function([x, y], sn.mse(p, y), backend="numpy")(data[name], data["y"])
    assert model.evaluate(data)["loss"] == pytest.approx(float(reference), rel=1e-6)


def test_a_composite_activation_is_named_in_the_equations_and_the_comments():
    sn.seed(0)
    x, y = sn.input("x", (None, 6)), sn.input("y", (None, 2))
    h = sn.dense(x, 4, activation="gelu")
    p = sn.dense(h, 2, activation="softmax")
    source = explain_source(sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1)))
    assert "a^1 = gelu(z^1)" in source
    assert "BP2  delta^1 = (delta^2 @ W^2.T) * gelu'(z^1)" in source
    assert "dense1_a = gelu(dense1_z)" in source


def test_a_network_built_from_params_named_like_layers_is_explained_by_its_layers():
    """Parameters made outside a layer builder, named "<layer>/W" and "<layer>/b" (a layer written by hand, or
    a model saved before nodes recorded their layer), still make layers: explain's equations, summary's rows
    and the layers whose speed of learning is measured."""
    from staticnet.learning_speed import bias_layers
    x, y = sn.input("x", (None, 4)), sn.input("y", (None, 3))
    W1, b1 = sn.param("hidden/W", (4, 5), init=sn.init.normal()), sn.param("hidden/b", (5,))
    W2, b2 = sn.param("out/W", (5, 3), init=sn.init.normal()), sn.param("out/b", (3,))
    p = sn.sigmoid(sn.sigmoid(x @ W1 + b1) @ W2 + b2)
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    assert [name for name, _ in bias_layers(net)] == ["hidden", "out"]
    table = str(net.summary(print_fn=None)).split("=" * 10)[0].splitlines()[2:]  # the rows above the totals
    assert [line.split()[0] for line in table if not line.startswith(" ")] == ["x", "y", "hidden", "out", "(loss)"]
    equations = [line.split()[1] for line in explain_source(net).splitlines() if line.lstrip().startswith("# BP")]
    assert {"BP1", "BP2", "BP3", "BP4"} <= set(equations)


def test_layer_norm_is_named_with_its_equations_once_above_its_code():
    sn.seed(0)
    x, y = sn.input("x", (None, 6)), sn.input("y", (None,), dtype="int64")
    h = sn.layer_norm(sn.dense(x, 4, activation="tanh"), name="ln")
    z = sn.dense(h, 2)
    source = explain_source(sn.compile(sn.softmax_cross_entropy(z, y), outputs=z, optimizer=sn.SGD(lr=0.1)))
    equations = ("layer_norm: mu = mean(x, -1);  sigma^2 = mean((x - mu)^2, -1);  x_hat = (x - mu) / "
                 "sqrt(sigma^2 + eps);  y = gamma * x_hat + beta")
    assert source.count(equations) == 1
    first = next(comments for comments, _ in blocks(source) if any(equations in c for c in comments))
    assert any("= layer_norm(dense1_a, ln/gamma, ln/beta)" in c for c in first)


def test_a_slice_is_written_as_numpy_indexes():
    sn.seed(0)
    x, y = sn.input("x", (None, 6)), sn.input("y", (None,), dtype="int64")
    h = sn.dense(x, 4, activation="tanh")
    z = sn.dense(sn.concat([h[:, 1:3], h[:, ::-2]]), 2)
    source = explain_source(sn.compile(sn.softmax_cross_entropy(z, y), outputs=z, optimizer=sn.SGD(lr=0.1)))
    assert "dense1_a[:, 1:3]" in source and "dense1_a[:, 3::-2]" in source


def test_a_batch_norm_names_its_equations_above_its_code_and_the_moving_update_above_the_state_writes():
    sn.seed(0)
    x, y = sn.input("x", (None, 6, 6, 1)), sn.input("y", (None, 3))
    h = sn.relu(sn.batch_norm(sn.conv2d(x, 4, 3), momentum=0.9, name="bn"))
    p = sn.dense(sn.flatten(h), 3, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    found = blocks(explain_source(net))
    normalise = [i for i, (comments, _) in enumerate(found) if any(c.startswith("BN normalise (bn)") for c in comments)]
    moving = [i for i, (comments, _) in enumerate(found) if any(c.startswith("BN moving update (bn): moving_mean <- "
                                                                             "0.9 moving_mean + 0.1 mu_B") for c in comments)]
    assert len(normalise) == 1 and len(moving) == 1 and normalise[0] < moving[0]
    assert any(c.startswith("BN scale and shift (bn): y = gamma * z_hat + beta") for c in found[normalise[0]][0])
    assert any("bn/moving_mean <- " in c for c in found[moving[0]][0])  # above the loop writing the state


@pytest.mark.parametrize("layer, gates", [("lstm", "i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)"),
                                          ("gru", "n = tanh(a_n + r * (p_n + b_hn))")])
def test_lstm_and_gru_kernels_are_explained_by_their_gate_equations(layer, gates):
    sn.seed(0)
    x, y = sn.input("x", (None, 5, 3)), sn.input("y", (None, 2))
    p = sn.dense(getattr(sn, layer)(x, 4), 2, activation="softmax")
    source = explain_source(sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1)))
    step = [(comments, code) for comments, code in blocks(source)]
    forward = next(comments for comments, code in step if any(f"{layer}_forward" in line for line in code))
    backward = next(comments for comments, code in step if any(f"{layer}_backward" in line for line in code))
    assert any(gates in line for line in forward), forward
    assert any(line.startswith(f"{layer}_grad: backpropagation through time") for line in backward), backward
