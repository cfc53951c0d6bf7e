"""Parsing of sizes given on the command line and formatting of byte counts.

Context and token counts use vLLM's ``--max-model-len`` convention (docs/facts/serving.md 2.1):
a lower-case suffix is decimal (``1k`` = 1,000, ``1m`` = 1,000,000, ``1g`` = 10**9) and an
upper-case suffix is binary (``1K`` = 1,024, ``1M`` = 1,048,576, ``1G`` = 2**30).
"""

from __future__ import annotations

import math
import re

from llamasize.errors import UsageError
from llamasize.text import quote_value

_SUFFIX = {"k": 10**3, "m": 10**6, "g": 10**9, "K": 2**10, "M": 2**20, "G": 2**30}
#: Longest number text accepted (counts, fractions): nothing llamasize sizes needs more than a few
#: digits, and Python's int() refuses more than 4,300 digits with an error of its own.
MAX_NUMBER_CHARS = 40
#: Blanks around the number are trimmed; blanks inside it (``8 K``, ``1 000``) are refused: a shell
#: quoting slip, not a number.
_NUMBER = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)([kmgKMG]?)\s*$")

#: Anything larger is treated as a typo rather than a request (2**40 tokens ~ 1.1e12).
MAX_TOKENS = 2**40

GIB = 2**30
MIB = 2**20

# ------------------------------------------------------------------------------ dtype sizes ---
#: The one table of dtype sizes: bytes per element of every dtype name llamasize reads. Torch
#: names (``config.json`` ``torch_dtype``, the runtime's arrays) and the short names of
#: ``--kv-dtype`` and the compute dtypes (``hardware.Flops``). Sources: IEEE 754 binary32/16,
#: bfloat16 (Google Brain float), OCP FP8 (E4M3/E5M2) and MX FP4 (E2M1: half a byte, so FP4 is
#: not in this whole-byte table; ``quant`` stores its formats bit by bit).
DTYPE_BYTES: dict[str, int] = {
    "float32": 4, "float16": 2, "bfloat16": 2,
    "fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1,
}
#: The checkpoint dtypes a ``torch_dtype`` may name (``ModelSpec.torch_dtype``).
TORCH_DTYPES = ("bfloat16", "float16", "float32")
#: Torch dtype name -> the short name used for KV dtypes and compute rates.
SHORT_DTYPE: dict[str, str] = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
#: Short name -> torch dtype name (e.g. an engine's ``--dtype float16`` for the fp16 format).
TORCH_DTYPE_OF: dict[str, str] = {short: torch for torch, short in SHORT_DTYPE.items()}


def dtype_bytes(name: str) -> int:
    """Bytes per element of a dtype (``DTYPE_BYTES``); KeyError for a name not in the table."""
    return DTYPE_BYTES[name]


def parse_count(text: str | int, what: str = "value", *, minimum: int = 1, maximum: int = MAX_TOKENS) -> int:
    """Parse ``8K``/``1M``/``1m``/``131072``/``1_000`` into an int, vLLM-style (see module doc).

    Fractions are allowed when the result is a whole number (``1.5K`` = 1,536).
    Raises UsageError with a one-line message for anything else.
    """
    if isinstance(text, bool):
        raise UsageError(f"{what} must be a whole number, got {quote_value(text)}")
    if isinstance(text, int):
        value = text
    else:
        if len(str(text)) > MAX_NUMBER_CHARS:  # before int(): Python refuses > 4,300 digits with ValueError
            raise UsageError(f"{what} must be a whole number, got a {len(str(text)):,}-character value")
        m = _NUMBER.match(str(text))
        if not m:
            raise UsageError(
                f"{what} must be a whole number with an optional k/K/m/M/g/G suffix "
                f"(e.g. 8K, 1M, 131072), got {text!r}"
            )
        digits, suffix = m.group(1).replace("_", "").replace(",", ""), m.group(2)
        mult = _SUFFIX.get(suffix, 1)
        if "." in digits:
            whole, frac = digits.split(".")
            num = int(whole + frac) * mult
            den = 10 ** len(frac)
            if num % den:
                raise UsageError(f"{what} {quote_value(text)} is not a whole number")
            value = num // den
        else:
            value = int(digits) * mult
    if value < minimum:
        raise UsageError(f"{what} must be at least {minimum:,}, got {value:,}")
    if value > maximum:
        raise UsageError(f"{what} {value:,} is absurdly large (limit {maximum:,})")
    return value


def parse_fraction(text: str | float, what: str, *, low: float = 0.0, high: float = 1.0,
                   low_inclusive: bool = False) -> float:
    """Parse a float in (low, high] (or [low, high]); rejects NaN, infinities and junk."""
    if isinstance(text, str) and len(text) > MAX_NUMBER_CHARS:
        raise UsageError(f"{what} must be a number, got a {len(text):,}-character value")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a number, got {quote_value(text)}") from None
    if math.isnan(value) or math.isinf(value):
        raise UsageError(f"{what} must be a finite number, got {quote_value(text)}")
    ok_low = value >= low if low_inclusive else value > low
    if not ok_low or value > high:
        bracket = "[" if low_inclusive else "("
        raise UsageError(f"{what} must be in {bracket}{low:g}, {high:g}], got {value:g}")
    return value


_AMOUNT = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)([kKmMbBgGtT]?)\s*$")
_DECIMAL = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}


def parse_amount(text: str | float, what: str, *, maximum: float = 1e16) -> float:
    """Parse a volume such as ``50M``, ``2.5B``, ``2e9`` or ``1_000_000`` (tokens or requests per day).

    Unlike context lengths, volumes use *decimal* suffixes whatever the case: K = 10**3,
    M = 10**6, B = G = 10**9, T = 10**12. Must be positive and finite.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = _AMOUNT.match(str(text))
        if not m:
            raise UsageError(f"{what} must be a positive number with an optional K/M/B/T suffix (e.g. 50M, 2e9), "
                             f"got {quote_value(text)}")
        value = float(m.group(1).replace("_", "").replace(",", "")) * _DECIMAL[m.group(2).lower()]
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise UsageError(f"{what} must be a positive finite number, got {quote_value(text)}")
    if value > maximum:
        raise UsageError(f"{what} {value:,.0f} is absurdly large (limit {maximum:,.0f})")
    return value


_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*(ms|s|us|µs|min)?\s*$")
_DURATION_UNITS = {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "min": 60.0}


def parse_duration(text: str | float, what: str, *, maximum_s: float = 86_400.0) -> float:
    """Parse a latency such as ``2s``, ``50ms``, ``1.5 s``, ``250us`` or ``0.05`` (seconds) into
    seconds. Must be positive, finite and at most ``maximum_s`` (a day by default)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = _DURATION.match(str(text)) if len(str(text)) <= MAX_NUMBER_CHARS else None
        if not m:
            raise UsageError(f"{what} must be a duration such as 2s, 50ms or 1.5 s, got {quote_value(text)}")
        value = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise UsageError(f"{what} must be a positive finite duration, got {quote_value(text)}")
    if value > maximum_s:
        raise UsageError(f"{what} {value:g} s is absurdly long (limit {maximum_s:g} s)")
    return value


def gib(n_bytes: int | None, digits: int = 1) -> str:
    """Format a byte count as GiB (binary) for display, e.g. ``28.1 GiB``; ``unknown`` for None."""
    if n_bytes is None:
        return "unknown"
    return f"{n_bytes / GIB:,.{digits}f} GiB"


def human_tokens(n: int | None) -> str:
    """Format a token count compactly with binary suffixes when exact (``1M``, ``128K``), else with commas."""
    if n is None:
        return "unknown"
    for suffix, mult in (("M", 2**20), ("K", 2**10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult}{suffix}"
    return f"{n:,}"


def human_params(n: int | None) -> str:
    """Format a parameter count as e.g. ``108.64B`` (decimal billions)."""
    if n is None:
        return "unknown"
    if n >= 10**12:
        return f"{n / 10**12:.3f}T"
    if n >= 10**9:
        return f"{n / 10**9:.2f}B"
    if n >= 10**6:
        return f"{n / 10**6:.2f}M"
    return f"{n:,}"
