"""Terminal output (issue 13 item 7): tables and text fit the terminal width (``$COLUMNS``, else the
terminal's), columns give way in a stated order, values are never split, and colour follows
NO_COLOR / FORCE_COLOR / a terminal on stdout; JSON is never coloured."""

from __future__ import annotations

import io
import re

import pytest

from llamasize.render import common
from llamasize.units import human_tokens

ESC = "\x1b["


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    from conftest import run_cli

    path = tmp_path_factory.mktemp("term") / "deploy.yaml"
    r = run_cli("plan", "--model", "maverick", "--quant", "int4", "--ctx", "128k", "--emit", "deployment")
    assert r.code == 0, r.err
    path.write_text(r.out)
    return str(path)


INVOCATIONS = [
    ("plan", "--model", "maverick", "--quant", "int4", "--ctx", "128k"),
    ("plan", "--model", "scout", "--ctx", "1M", "--max-nodes", "2"),
    ("plan", "--model", "llama3.1-405b", "--quant", "bf16", "--gpu", "h100-sxm", "--ctx", "32k"),
    ("fit", "--model", "maverick", "--gpu", "h100-sxm", "--gpus", "8", "--quant", "fp8", "--ctx", "128k"),
    ("fit", "--model", "llama3.1-70b", "--gpu", "a100-sxm-80gb", "--gpus", "1", "--ctx", "128k"),
    ("cost", "--model", "scout", "--tokens-per-day", "100M"),
    ("cost", "--model", "llama3.1-8b", "--tokens-per-day", "10M", "--price", "spot"),
]


@pytest.mark.parametrize("columns", [60, 80, 200])
@pytest.mark.parametrize("args", INVOCATIONS + [("check", "MANIFEST")], ids=lambda a: " ".join(a)[:40])
def test_no_line_is_wider_than_the_terminal(cli, monkeypatch, manifest, columns, args):
    monkeypatch.setenv("COLUMNS", str(columns))
    args = tuple(manifest if a == "MANIFEST" else a for a in args)
    r = cli(*args)
    assert r.code in (0, 3), r.err
    wide = [line for line in r.out.splitlines() if len(line) > columns]
    assert not wide, wide[0]
    assert ESC not in r.out  # not a terminal, NO_COLOR set by the test isolation


def test_values_are_never_split_and_dropped_columns_are_named(cli, monkeypatch):
    args = ("plan", "--model", "maverick", "--quant", "int4", "--ctx", "128k")
    plan = cli(*args, "--format", "json").json()
    for columns in (60, 80):
        monkeypatch.setenv("COLUMNS", str(columns))
        text = cli(*args).out
        table = text.split("Alternatives\n", 1)[1].split("\n\n", 1)[0]
        for alt in plan["alternatives"]:
            price = f"${alt['price_usd_per_hour']:,.2f}"
            assert re.search(rf"(^|\s){re.escape(price)}(\s|$)", table, re.M), (columns, price)
            if columns == 80:
                assert human_tokens(alt["max_context_tokens"]) in table  # as the table writes it (1M, 974,064)
        assert f"(not shown at {columns} columns: TPOT, TTFT, $/1M tok, KV" in " ".join(table.split())
    monkeypatch.setenv("COLUMNS", "200")
    assert "not shown at" not in cli(*args).out


def test_a_table_too_narrow_for_two_columns_is_stacked(monkeypatch):
    monkeypatch.setenv("COLUMNS", "34")
    out = common.rich_table("T", ["option", "price per hour"], [["8 x h100-sxm-80gb-long", "$19.60"]])
    assert "  option: 8 x h100-sxm-80gb-long" in out and "  price per hour: $19.60" in out
    assert all(len(line) <= 34 for line in out.splitlines())


def test_drop_order_is_the_callers(monkeypatch):
    monkeypatch.setenv("COLUMNS", "30")
    out = common.rich_table(None, ["a", "bbbbbbbbbb", "cccccccccc", "dddddddddd"], [["1", "2", "3", "4"]], drop=(1, 2))
    assert "dddddddddd" in out and "bbbbbbbbbb" not in out.splitlines()[0]
    assert "not shown at 30 columns: bbbbbbbbbb" in " ".join(out.split())


def test_text_wraps_at_spaces_only():
    line = "  warning: " + " ".join(["$19.60"] * 30)
    out = common.fit_lines(line, 40)
    assert all(len(x) <= 40 for x in out.splitlines())
    assert out.replace("\n", " ").split() == line.split()  # same words, none cut


def test_colour_rules(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert common.colour_enabled() is False  # a pipe
    monkeypatch.setattr("sys.stdout", Tty())
    assert common.colour_enabled() is True  # a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    assert common.colour_enabled() is False
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert common.colour_enabled() is False  # NO_COLOR wins
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert common.colour_enabled() is True  # forced into a pipe
    monkeypatch.setenv("FORCE_COLOR", "0")
    assert common.colour_enabled() is False


def test_force_color_colours_verdicts_and_errors_never_json(cli, monkeypatch, manifest):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    r = cli("check", manifest)
    assert r.code == 0 and f"{ESC}32mPASS{ESC}0m" in r.out and f"{ESC}32mOK{ESC}0m:" in r.out
    j = cli("check", manifest, "--format", "json")
    assert ESC not in j.out and j.json()["summary"]["passed"] == 1
    p = cli("plan", "--model", "maverick", "--quant", "int4", "--ctx", "128k")
    assert f"{ESC}1;32mRecommendation:" in p.out
    for fmt in ("json", "markdown", "tfvars"):
        assert ESC not in cli("plan", "--model", "maverick", "--quant", "int4", "--ctx", "128k", "--format", fmt).out
    e = cli("plan", "--model", "no-such-model")
    assert e.code != 0 and f"llamasize: {ESC}1;31merror:{ESC}0m " in e.err
    monkeypatch.setenv("NO_COLOR", "1")
    assert ESC not in cli("check", manifest).out
    e = cli("plan", "--model", "no-such-model")
    assert e.err.startswith("llamasize: error: ")
