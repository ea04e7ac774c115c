"""The example notebook runs, top to bottom, in a real Jupyter kernel (nbclient), and shows what a notebook
user expects: the model as its summary table, a progress bar redrawn in place, a table of epochs, the curves."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import require_mnist

NOTEBOOK = os.path.join(os.path.dirname(__file__), "..", "examples", "mnist_mlp.ipynb")


def outputs_of(cell) -> dict:
    """A cell's outputs by kind: "stderr"/"stdout" text, and each rich mime type's data."""
    found = {}
    for out in cell.outputs:
        if out.output_type == "stream":
            found[out.name] = found.get(out.name, "") + out.text
        elif out.output_type in ("execute_result", "display_data"):
            found.update(out.data)
    return found


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    require_mnist()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    directory = tmp_path_factory.mktemp("notebook")
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(directory)}},
                   record_timing=False).execute()
    return {cell.source.splitlines()[-1].split("#")[0].strip(): outputs_of(cell)
            for cell in notebook.cells if cell.cell_type == "code"}


def test_the_notebook_shows_the_model_its_loop_its_progress_its_history_and_curves(executed):
    model = executed["net"]["text/html"]
    assert "<pre>" in model and "dense1" in model and "FLOPs per example" in model and "SGD(lr=3" in model
    loop = executed['print(explain_source(net).split("\\n\\n")[-1])']["stdout"]
    assert all(f"BP{i}" in loop for i in (1, 2, 3, 4))
    fitted = executed["hist"]
    progress = fitted["stderr"]
    # ipywidgets is not in the dev extra: the text bar, redrawn in place by carriage returns, then one line per epoch
    assert "\r" in progress and "%|" in progress
    epoch_lines = [line for line in progress.replace("\r", "\n").splitlines() if line.startswith("epoch 3/3  loss")]
    assert len(epoch_lines) == 1 and "val_acc" in epoch_lines[0]
    table = fitted["text/html"]
    assert table.startswith("<table>") and table.count("<tr>") == 4  # the header and three epochs
    assert "image/png" in executed["sn.plot.history(hist)"]
    scores = executed['net.evaluate(test["x"], test["y"])']["text/plain"]
    accuracy = float(scores.split("'accuracy': ")[1].split(",")[0].rstrip("}"))
    assert accuracy > 0.6  # three epochs on 5,000 images: the book's network learns (chance is 0.1)
