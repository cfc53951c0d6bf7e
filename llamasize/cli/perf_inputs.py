"""The perf command's workload flags: prompt / output lengths (fixed or ``normal:MEAN:SD``),
``max`` concurrency, the load and the simulation settings (split from ``inputs`` to keep modules
small; the same rule: every value validated, one-line errors)."""

from __future__ import annotations

from llamasize.cli.inputs import pick, seed
from llamasize.errors import UsageError
from llamasize.text import quote_value


def perf_shape(prompt_tokens: str | None, output_tokens: str | None, ctx: str | None) -> tuple[int, int, int]:
    """(prompt, output, context) of ``perf``: the context defaults to prompt + output (the longest
    lengths a ``normal:MEAN:SD`` distribution draws); a distribution's length is its mean."""
    from llamasize.plan.planner import DEFAULT_OUTPUT_TOKENS, DEFAULT_PROMPT_TOKENS
    from llamasize.units import parse_count

    p, psd = token_length(pick(prompt_tokens, default=str(DEFAULT_PROMPT_TOKENS)), "--prompt-tokens")
    o, osd = token_length(pick(output_tokens, default=str(DEFAULT_OUTPUT_TOKENS)), "--output-tokens")
    c = parse_count(ctx, "--ctx") if ctx is not None else _cap(p, psd) + _cap(o, osd)
    return p, o, c


def _cap(mean: int, sd: float | None) -> int:
    """``estimate.simulate.length_cap`` without importing numpy for a fixed length."""
    if not sd:
        return mean
    from llamasize.estimate.simulate import length_cap

    return length_cap(mean, sd)


def token_length(text: str, flag: str) -> tuple[int, float | None]:
    """A length flag: ``N`` tokens, or ``normal:MEAN:SD`` (a distribution the simulation draws
    from, seeded; ``SD`` >= 0) -> (mean, standard deviation or None)."""
    from llamasize.units import parse_amount, parse_count

    t = str(text).strip()
    if not t.lower().startswith("normal:"):
        return parse_count(t, flag), None
    parts = t.split(":")
    if len(parts) != 3:
        raise UsageError(f"{flag} {quote_value(text)}: a distribution is normal:MEAN:SD (e.g. normal:1000:200)")
    mean = parse_count(parts[1], f"{flag} mean")
    sd = parse_amount(parts[2], f"{flag} standard deviation", maximum=1e9) if parts[2].strip() not in ("0", "") else 0.0
    return mean, (sd or None)


def is_max(value: str | None) -> bool:
    """``--batch max`` / ``--concurrency max``: the largest concurrency the KV pool holds."""
    return value is not None and str(value).strip().lower() == "max"


def max_concurrency(d, ctx: int, flag: str) -> int:
    """Sequences of ``ctx`` tokens the deployment's KV pool holds (``--concurrency max``); a usage
    error when not even one fits."""
    from llamasize.estimate.memory import quick_fit

    _, _, _, core = quick_fit(d)
    n = core.max_concurrency(ctx) if core is not None else None
    if not n or n < 1:
        raise UsageError(f"{flag} max: the KV cache of this deployment holds no sequence of {ctx:,} tokens")
    return int(n)


def perf_load(concurrency: str | None, requests_per_day: str | None, batch: int) -> tuple[int, float | None]:
    """(concurrency, requests per day) of ``perf``: concurrency defaults to the deployment's batch."""
    from llamasize.units import parse_amount, parse_count

    conc = parse_count(concurrency, "--concurrency", maximum=1_000_000) if concurrency is not None else batch
    rpd = None if requests_per_day is None else parse_amount(requests_per_day, "--requests-per-day", maximum=1e15)
    return conc, rpd


def simulation(arrival: str | None, requests: str | None, qps: str | None, admission: str | None,
               sim_seed: int | None) -> dict | None:
    """``perf``'s simulation settings (None without ``--arrival``); every value checked, and the
    simulation flags refused without ``--arrival`` (they would be ignored)."""
    from llamasize.units import parse_amount, parse_count

    if arrival is None:
        given = [f for f, v in (("--requests", requests), ("--qps", qps), ("--admission", admission),
                                ("--seed", sim_seed)) if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} set(s) the simulation: add --arrival offline, poisson or closed")
        return None
    kind = arrival.strip().lower()
    if kind not in ("offline", "poisson", "closed"):
        raise UsageError(f"unknown --arrival {quote_value(arrival)} (choices: offline, poisson, closed)")
    if (kind == "poisson") != (qps is not None):
        raise UsageError("--arrival poisson needs --qps" if kind == "poisson" else "--qps is the rate of --arrival poisson")
    from llamasize.estimate.simulate import ADMISSION  # numpy: only when a simulation is asked for

    adm = "greedy" if admission is None else admission.strip().lower()
    if adm not in ADMISSION:
        raise UsageError(f"unknown --admission {quote_value(admission)} (choices: {', '.join(ADMISSION)})")
    return {"arrival": kind, "n": parse_count(pick(requests, default="1000"), "--requests", maximum=1_000_000),
            "qps": None if qps is None else parse_amount(qps, "--qps", maximum=1e7),
            "seed": seed(sim_seed) if kind == "poisson" else None, "admission": adm}
