"""``llamasize.text``: the one way user values are shown in messages (issue 10, R14)."""

from __future__ import annotations

import pytest

from llamasize.text import QUOTE_LIMIT, escape_controls, is_plain, quote_if_needed, quote_value

BIDI = [chr(c) for c in list(range(0x202A, 0x202F)) + list(range(0x2066, 0x206A))]


def test_quote_value_escapes_newlines_and_escapes():
    assert quote_value("int4\nllamasize: error: forged") == "'int4\\nllamasize: error: forged'"
    assert quote_value("\x1b[31mred") == "'\\x1b[31mred'"
    assert quote_value("a\rb\tc") == "'a\\rb\\tc'"
    assert quote_value("it's") == '"it\'s"'  # repr's choice of quotes
    assert quote_value("") == "''"


@pytest.mark.parametrize("c", BIDI, ids=[f"U+{ord(c):04X}" for c in BIDI])
def test_bidi_controls_are_escaped(c):
    q = quote_value(f"abc{c}def")
    assert c not in q and f"\\u{ord(c):04x}" in q
    assert c not in escape_controls(f"x{c}y") and escape_controls(f"x{c}y") == f"x\\u{ord(c):04x}y"


@pytest.mark.parametrize("c", ["\x00", "\x07", "\x7f", "\x85", "\u2028", "\u2029", "\u200b", "\ufeff",
                               "\udc80", "\U000e0001"])
def test_other_invisible_characters_are_escaped(c):
    out = escape_controls(f"a{c}b")
    assert c not in out and out.startswith("a\\") and out.endswith("b") and out.isprintable()


def test_long_values_are_cut_with_their_length():
    v = "x" * 8000
    assert quote_value(v) == "'" + "x" * QUOTE_LIMIT + "\u2026' (8,000 characters)"
    assert quote_value("y" * QUOTE_LIMIT) == repr("y" * QUOTE_LIMIT)  # at the limit: whole
    assert quote_value("z" * 50, limit=10) == "'zzzzzzzzzz\u2026' (50 characters)"
    assert quote_value(list(range(1000)), limit=20).endswith("\u2026 (4,890 characters)")
    assert quote_value(8) == "8" and quote_value(True) == "True" and quote_value(None) == "None"


def test_escape_controls_leaves_printable_text_alone():
    s = "Deployment/llama: model 'x' \\ not found (50%) | ok"
    assert escape_controls(s) is s
    assert escape_controls("caf\u00e9 \u4e2d\u6587") == "caf\u00e9 \u4e2d\u6587"


def test_plain_names_stay_bare_others_are_quoted():
    assert quote_if_needed("llama-70b") == "llama-70b" and is_plain("a b")
    assert quote_if_needed("a\nb") == "'a\\nb'"
    assert quote_if_needed(" lead") == "' lead'" and quote_if_needed("") == "''"
    assert quote_if_needed("it's") == '"it\'s"' and quote_if_needed("a\\b") == "'a\\\\b'"
    assert quote_if_needed("n" * 300).endswith("(300 characters)")
