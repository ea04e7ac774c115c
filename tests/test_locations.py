"""The user's file:line each node records: a path may hold anything, so it is stored rendered (one line of
printable characters), never refused; generated code carries it in comments and runs nothing of it."""
import numpy as np
import pytest

import staticnet as sn
from tests.conftest import hostile_strings

BUILD = """
x = sn.input("x", (None, 3))
p = sn.dense(x, 2, activation="sigmoid", init=sn.init.constant(0.25))
net = sn.compile(sn.mse(p, sn.input("y", (None, 2))), outputs=p, optimizer=sn.SGD(lr=0.1))
"""


def built_in_file(filename: str) -> dict:
    """The names BUILD makes, run as if from a script of that file name (its frames carry it)."""
    scope = {"sn": sn}
    try:
        exec(compile(BUILD, "placeholder.py", "exec").replace(co_filename=filename), scope)  # compile() refuses NUL
    except Exception as e:  # reported without the frames of that file: pytest cannot show a file named with a NUL
        raise AssertionError(f"building in {filename[:200]!r} failed: {type(e).__name__}: {e}") from None
    return scope


@pytest.mark.parametrize("case", range(len(hostile_strings("m"))))
def test_a_script_path_holding_anything_is_stored_rendered_and_runs_nothing(tmp_path, case):
    marker = tmp_path / "ran"
    filename = hostile_strings(marker)[case]
    scope = built_in_file(filename)
    rows = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    expected = 1 / (1 + np.exp(-(rows.astype(np.float64) @ np.full((3, 2), 0.25))))
    np.testing.assert_allclose(scope["net"].predict(rows), expected, rtol=1e-6)
    for node in sn.Graph([scope["net"].loss]).nodes:
        assert node.loc.isprintable() and len(node.loc) <= 2000, repr(node.loc[:80])
        assert node.loc[-2:] in (":2", ":3", ":4"), repr(node.loc[-80:])
    scope["net"].save(str(tmp_path / "m.snet"))
    np.testing.assert_array_equal(sn.load(str(tmp_path / "m.snet")).predict(rows), scope["net"].predict(rows))
    assert not marker.exists()


def test_a_printable_path_is_kept_as_it_is():
    scope = built_in_file("/home/josé/models/'quoted' \"and\" \\back.py")
    assert scope["x"].loc == "/home/josé/models/'quoted' \"and\" \\back.py:2"


def test_line_breaks_and_control_characters_are_escaped():
    scope = built_in_file("a\nb\u2028c\x00d\x85.py")
    assert scope["x"].loc == "a\\nb\\u2028c\\x00d\\x85.py:2"
