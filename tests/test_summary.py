"""Model.summary: layers, output shapes, parameter counts, the kernels they ended up in, and totals."""
import staticnet as sn


def book_network():
    x, y = sn.input("x", (None, 784)), sn.input("y", (None, 10))
    p = sn.dense(sn.dense(x, 30, activation="sigmoid"), 10, activation="softmax")  # both layers on one line
    return sn.compile(sn.cross_entropy(p, y) + sn.l2(lam=5.0, n=50_000), outputs=p, optimizer=sn.SGD(lr=0.5))


def row(text, name):
    return next(line for line in text.splitlines() if line.split()[0] == name)


def test_the_summary_lists_each_layer_with_its_shape_parameters_and_kernel(capsys):
    net = book_network()
    text = str(net.summary(batch_size=10, print_fn=None))
    assert row(text, "dense1").split()[:7] == ["dense1", "matmul,", "add,", "(None,", "30)", f"{784 * 30 + 30:,}",
                                                "gemm"]
    assert row(text, "dense1").endswith("gemm + epilogue[add, sigmoid]")  # bias and sigmoid in the product's epilogue
    dense2 = text.splitlines().index(row(text, "dense2"))
    assert f"{30 * 10 + 10:,}" in row(text, "dense2") and "gemm + epilogue[add]" in row(text, "dense2")
    assert "softmax_xent_multi" in text.splitlines()[dense2 + 1]  # the softmax went into the cost's kernel
    assert row(text, "x").split()[1:] == ["input", "(None,", "784)"]
    assert "square" in row(text, "(loss)")  # the L2 term's sums of squares
    forward = 2 * 784 * 30 + 2 * 30 + 2 * 30 * 10 + 10 + 10  # products, bias and sigmoid, bias, softmax
    assert f"parameters: {784 * 30 + 30 + 310:,} trainable, 0 non-trainable, 0 frozen; 1 optimizer state" in text
    assert f"FLOPs per example: {forward:,} forward" in text
    assert f"workspace: {net.steps['train'].plan.peak_bytes(10):,} bytes (training step, batch 10)" in text
    assert max(len(line) for line in text.splitlines()) < 80
    returned = net.summary(batch_size=10)
    assert str(returned) == text and capsys.readouterr().out == text + "\n"  # returns the text it printed
    assert "\n" not in repr(returned)  # a prompt echoing it does not print the table twice


def flops_line(text):
    return next(line for line in str(text).splitlines() if line.startswith("FLOPs per example"))


def test_flops_per_example_do_not_depend_on_the_batch_size_summary_is_given():
    net = book_network()
    small, large = (flops_line(net.summary(batch_size=b, print_fn=None)) for b in (1, 1000))
    assert small == large and "batch" not in small
    forward = 2 * 784 * 30 + 2 * 30 + 2 * 30 * 10 + 10 + 10
    assert small.startswith(f"FLOPs per example: {forward:,} forward, ")


def test_a_convolution_lists_its_im2col_and_product_and_the_pooling_its_own():
    x, y = sn.input("x", (None, 28, 28, 1)), sn.input("y", (None, 10))
    h = sn.max_pool2d(sn.conv2d(x, 20, 5, activation="sigmoid"), 2)
    p = sn.dense(sn.flatten(h), 10, activation="softmax")
    text = str(sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1)).summary(print_fn=None))
    conv = row(text, "conv1")
    assert "(None, 24, 24, 20)" in conv and f"{5 * 5 * 20 + 20:,}" in conv and "im2col; gemm" in conv
    assert "(None, 12, 12, 20)" in row(text, "max_pool2d") and row(text, "max_pool2d").endswith("max_pool2d")
    assert f"{12 * 12 * 20 * 10 + 10:,}" in row(text, "dense1")


def test_a_composite_activation_is_listed_by_its_name():
    x, y = sn.input("x", (None, 6)), sn.input("y", (None, 2))
    h = sn.dense(x, 4, activation="swish")
    p = sn.dense(sn.leaky_relu(h, 0.2), 2, activation="softmax")
    text = str(sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1)).summary(print_fn=None))
    assert row(text, "dense1").split()[1:4] == ["matmul,", "add,", "swish"]
    assert row(text, "leaky_relu").split()[:3] == ["leaky_relu", "leaky_relu", "(None,"]
    lines = text.splitlines()
    assert lines[lines.index(row(text, "dense1")) + 1].split() == ["sigmoid;", "mul"]  # the inlined swish's kernels


def test_a_recurrent_layers_workspace_buffers_are_not_listed_as_ops_or_kernels():
    """The LSTM's tape is a workspace buffer (a scratch node) that computes nothing: its row names the layer's
    own ops and kernels only."""
    x, y = sn.input("x", (None, 5, 3)), sn.input("y", (None, 2))
    p = sn.dense(sn.lstm(x, 4), 2, activation="softmax")
    text = str(sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam()).summary(print_fn=None))
    lstm = row(text, "lstm1")
    assert lstm.split()[1:3] == ["lstm,", "step_at"] and "scratch" not in text
    assert f"{4 * 4 * (3 + 4) + 4 * 4:,}" in lstm  # W (3 x 16), U (4 x 16), b (16)
