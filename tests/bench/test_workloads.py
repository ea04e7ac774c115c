"""The bench's staticnet models are the networks they name."""
from staticnet.bench.workloads import WORKLOADS, model_file, staticnet_model


def test_a_model_file_is_built_with_the_size_asked(tmp_path):
    """The compile-time table's 'resized' situation compiles the same file with 37 hidden units."""
    path = tmp_path / "model.py"
    path.write_text(model_file(WORKLOADS["W1"]))
    net = staticnet_model(WORKLOADS["W1"], hidden=37, path=str(path))
    assert [v.shape for v in net.params.values()] == [(784, 37), (37,), (37, 10), (10,)]
