"""units: vLLM-style size parsing (--max-model-len convention) and byte/token formatting."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

from llamasize.errors import UsageError
from llamasize.units import MAX_TOKENS, gib, human_params, human_tokens, parse_count, parse_fraction

FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------------------- parse_count ---
@pytest.mark.parametrize(
    "text, expected",
    [
        # The examples (vLLM: upper case binary, lower case decimal).
        ("1M", 1_048_576),
        ("1m", 1_000_000),
        ("128K", 131_072),
        ("8k", 8_000),
        ("8K", 8_192),
        ("1G", 2**30),
        ("1g", 10**9),
        ("10M", 10_485_760),  # Scout Instruct's max_position_embeddings
        ("131072", 131_072),
        ("1_000", 1_000),
        ("1.5K", 1_536),
        ("0.5k", 500),
        (" 8K ", 8_192),
        ("1", 1),
    ],
)
def test_parse_count_suffixes(text, expected):
    assert parse_count(text) == expected


def test_parse_count_passes_ints_through():
    assert parse_count(4096) == 4096


@pytest.mark.parametrize(
    "text",
    ["0", "-1", "-3", "abc", "", "1e30", "1e3", "nan", "inf", "8KB", "1T", "0x10", "1.5", "1.0001K", "M", "--1"],
)
def test_parse_count_rejects_junk(text):
    with pytest.raises(UsageError) as ei:
        parse_count(text, "--ctx")
    msg = str(ei.value)
    assert "--ctx" in msg
    assert "\n" not in msg


def test_parse_count_rejects_bool():
    with pytest.raises(UsageError):
        parse_count(True, "--batch")


def test_parse_count_zero_message_names_the_minimum():
    with pytest.raises(UsageError, match="at least 1"):
        parse_count("0", "--ctx")


def test_parse_count_absurd_is_rejected_with_the_limit():
    with pytest.raises(UsageError, match="absurdly large"):
        parse_count(str(MAX_TOKENS + 1), "--ctx")
    assert parse_count(str(MAX_TOKENS), "--ctx") == MAX_TOKENS


def test_parse_count_respects_custom_bounds():
    with pytest.raises(UsageError):
        parse_count("5000", "--gpus", maximum=4096)
    with pytest.raises(UsageError):
        parse_count("1", "--x", minimum=2)
    assert parse_count("4096", "--gpus", maximum=4096) == 4096


@FAST
@given(st.integers(min_value=1, max_value=2**30))
def test_parse_count_roundtrips_plain_integers(n):
    assert parse_count(str(n)) == n


@FAST
@given(st.integers(min_value=1, max_value=2**20), st.sampled_from(["k", "K", "m", "M"]))
def test_parse_count_suffix_multiplies(n, suffix):
    mult = {"k": 10**3, "K": 2**10, "m": 10**6, "M": 2**20}[suffix]
    assert parse_count(f"{n}{suffix}") == n * mult


# ----------------------------------------------------------------------------- parse_fraction ---
@pytest.mark.parametrize("text, expected", [("0.9", 0.9), ("1", 1.0), ("0.92", 0.92), ("1e-3", 0.001)])
def test_parse_fraction_accepts_open_closed_unit_interval(text, expected):
    assert math.isclose(parse_fraction(text, "--gpu-memory-utilization"), expected)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1.5", "0", "-0.5", "abc", "", "1.0000001"])
def test_parse_fraction_rejects(text):
    with pytest.raises(UsageError) as ei:
        parse_fraction(text, "--gpu-memory-utilization")
    assert "--gpu-memory-utilization" in str(ei.value)


def test_parse_fraction_low_inclusive():
    assert parse_fraction("0", "--overhead-gib", low=0, high=1024, low_inclusive=True) == 0.0
    with pytest.raises(UsageError):
        parse_fraction("-0.1", "--overhead-gib", low=0, high=1024, low_inclusive=True)


# -------------------------------------------------------------------------------- formatting ---
def test_gib_is_binary():
    assert gib(2**30) == "1.0 GiB"
    assert gib(3 * 2**29) == "1.5 GiB"
    assert gib(10**9) == "0.9 GiB"  # a decimal GB is less than a GiB
    assert gib(None) == "unknown"


def test_human_tokens():
    assert human_tokens(1_048_576) == "1M"
    assert human_tokens(131_072) == "128K"
    assert human_tokens(1_000_000) == "1,000,000"
    assert human_tokens(None) == "unknown"


def test_human_params():
    assert human_params(108_641_793_536) == "108.64B"
    assert human_params(2 * 10**12) == "2.000T"
    assert human_params(None) == "unknown"


@pytest.mark.parametrize("text", ["8 K", "1 000", "8\tK", "1.5 M", "8\u00a0K"])
def test_parse_count_refuses_blanks_inside_the_number(text):
    """A blank between digits and suffix is a quoting slip (issue 10): refused, not read as 8K."""
    with pytest.raises(UsageError, match="whole number"):
        parse_count(text, "--ctx")


@pytest.mark.parametrize("text", [" 8K", "8K ", "\t131072\n"])
def test_parse_count_trims_blanks_around_the_number(text):
    assert parse_count(text, "--ctx") in (8192, 131072)


@pytest.mark.parametrize("text", ["50 M", "2 B", "1 000"])
def test_parse_amount_refuses_blanks_inside_the_number(text):
    from llamasize.units import parse_amount

    with pytest.raises(UsageError, match="positive number"):
        parse_amount(text, "--requests-per-day")


def test_cli_refuses_a_spaced_context(cli):
    r = cli("fit", "--model", "scout", "--gpu", "h100", "--ctx", "8 K")
    assert r.code == 2 and r.out == ""
    assert r.err.count("llamasize: error:") == 1 and "'8 K'" in r.err
