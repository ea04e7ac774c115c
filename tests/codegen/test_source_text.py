"""The one module that renders text into generated source: whatever a string holds, its comment is one comment
line, its docstring line and its literal evaluate to text and run nothing, its identifier is ASCII."""
import ast

import pytest

from staticnet.codegen import driver
from staticnet.codegen.source_text import check_source, comment, docstring, escaped, identifier, literal
from tests.conftest import hostile_strings

EVERY_BREAK = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@pytest.mark.parametrize("case", range(len(hostile_strings("m"))))
def test_hostile_text_renders_to_code_that_runs_nothing(tmp_path, case):
    marker = tmp_path / "ran"
    text = hostile_strings(marker)[case]
    line = comment(text)
    assert len(line.splitlines()) == 1 and not any(c in line for c in EVERY_BREAK + "\x00")
    module = f'"""{docstring(text)}"""\nvalue = {literal(text)}\n{line}\nafter = 1\n'
    check_source(module)
    tree = ast.parse(module)
    assert [type(s).__name__ for s in tree.body] == ["Expr", "Assign", "Assign"]  # the comment hid nothing
    scope = {}
    exec(compile(tree, "<generated>", "exec"), scope)
    assert scope["value"] == text and scope["after"] == 1
    stripped = {}  # what is hashed and imported: the comment lines removed
    exec(driver.code_only(module), stripped)
    assert stripped["value"] == text and stripped["after"] == 1
    name = identifier(text)
    assert name.isascii() and (name == "" or ("_" + name).isidentifier())
    assert not marker.exists()


def test_escaped_is_idempotent_and_keeps_printable_text():
    assert escaped("café 'a' \"b\" \\c") == "café 'a' \"b\" \\c"
    assert escaped("a\nb\u2028c\x00") == "a\\nb\\u2028c\\x00"
    assert escaped(escaped("a\nb\u2028")) == escaped("a\nb\u2028")


def test_identifiers_are_ascii_so_that_two_names_never_become_one_variable():
    assert "\ufb01x".isidentifier() and ("\ufb01x" != "fix")  # Python would read the ligature as fix (NFKC)
    assert identifier("\ufb01x") == "_x" and identifier("dense1/W") == "dense1_W"


@pytest.mark.parametrize("character", list(EVERY_BREAK.replace("\n", "") + "\x00\ud800\t"))
def test_generated_code_holding_a_non_printable_character_is_refused(character):
    with pytest.raises(RuntimeError, match="internal error: generated code holds the character"):
        check_source(f"x = 1\n# a{character}b\n")


@pytest.mark.parametrize("value", [None, True, 0, -7, 2.5, 1e-300, "a'b\"c", (), (1,), (1, 2.5), [1, [2, "x"]], []])
def test_a_literal_evaluates_to_its_value(value):
    assert eval(literal(value)) == value and type(eval(literal(value))) is type(value)


def test_non_finite_floats_are_written_through_math():
    import math
    assert [literal(v) for v in (math.inf, -math.inf)] == ["math.inf", "-math.inf"] and literal(math.nan) == "math.nan"
