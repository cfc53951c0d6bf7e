"""``perf --arrival``: the continuous-batching simulation behind perf (issue 12 item 3, first step)."""

from __future__ import annotations

import pytest

PERF = ("perf", "--model", "llama3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--prompt-tokens", "128",
        "--output-tokens", "128", "--format", "json")


def test_offline_simulation_fills_the_headline_fields(cli):
    r = cli(*PERF, "--arrival", "offline", "--requests", "2000")
    assert r.code == 0, r.err
    d = r.json()
    s = d["simulation"]
    assert s["arrival"] == "offline" and s["requests"] == 2000 and s["seed"] is None and s["qps"] is None
    assert d["output_tokens_per_s"] == s["output_tokens_per_s"] and d["ttft_s"] == s["ttft_s_mean"]
    assert d["tpot_s"] == s["tpot_s_mean"] and d["request_latency_s"] == s["e2e_s_mean"]
    assert s["ttft_s_p50"] <= s["ttft_s_p90"] <= s["ttft_s_p99"]
    assert 0 < s["kv_utilization"] <= s["kv_utilization_max"] <= 1
    assert any(a["name"] == "steady_state" and "simulated" in a["value"] for a in d["assumptions"])


def test_short_prompts_batched_beat_the_serial_prefill_steady_state(cli):
    """The issue's short-prompt gap: prompts prefilled together in the token budget, not one after
    another each paying a full weight read."""
    steady = cli(*PERF, "--concurrency", "256").json()["output_tokens_per_s"]
    simulated = cli(*PERF, "--arrival", "offline", "--requests", "3000").json()["output_tokens_per_s"]
    assert simulated > 1.2 * steady


def test_poisson_is_seeded(cli):
    args = (*PERF, "--arrival", "poisson", "--qps", "20", "--requests", "300")
    a, b, c = cli(*args), cli(*args), cli(*args, "--seed", "9")
    assert a.code == b.code == c.code == 0, a.err
    assert a.out == b.out and a.json()["simulation"]["seed"] == 0
    assert c.json()["simulation"]["seed"] == 9 and c.out != a.out


@pytest.mark.parametrize("extra,words", [
    (("--qps", "2"), "add --arrival"),
    (("--requests", "10"), "add --arrival"),
    (("--arrival", "poisson"), "needs --qps"),
    (("--arrival", "offline", "--qps", "3"), "--qps is the rate"),
    (("--arrival", "sometimes"), "unknown --arrival"),
    (("--arrival", "offline", "--admission", "lottery"), "unknown --admission"),
    (("--arrival", "poisson", "--qps", "0"), "--qps"),
    (("--arrival", "offline", "--requests", "0"), "--requests"),
])
def test_bad_simulation_flags_are_one_line_errors(cli, extra, words):
    r = cli(*PERF, *extra)
    assert r.code == 2 and r.out == "" and r.err.count("llamasize: error:") == 1 and words in r.err, r.err


def test_a_request_longer_than_the_pool_is_a_usage_error(cli):
    # 70B int4 on one H100: 128K tokens of KV (40 GiB) do not fit beside the weights
    r = cli("perf", "--model", "llama3.1-70b", "--gpu", "h100-sxm", "--quant", "int4", "--prompt-tokens", "120000",
            "--output-tokens", "8000", "--ctx", "128K", "--arrival", "offline", "--requests", "2")
    assert r.code == 2 and "cannot simulate" in r.err and "does not fit" in r.err, r.err


def test_table_shows_the_percentiles(cli):
    r = cli(*PERF[:-2], "--arrival", "offline", "--requests", "500")
    assert r.code == 0 and "simulated: 500 requests (all queued at t=0)" in r.out and "TTFT p50 / p90 / p99" in r.out


def test_closed_loop_uses_the_concurrency(cli):
    r = cli(*PERF, "--arrival", "closed", "--concurrency", "16", "--requests", "200")
    assert r.code == 0, r.err
    s = r.json()["simulation"]
    assert s["arrival"] == "closed" and s["clients"] == 16 and s["max_running"] <= 16 and s["qps"] is None


@pytest.mark.parametrize("arrival", [("--arrival", "poisson", "--qps", "5"), ("--arrival", "closed")])
def test_table_names_the_arrivals(cli, arrival):
    r = cli(*PERF[:-2], *arrival, "--requests", "100")
    assert r.code == 0, r.err
    assert ("Poisson at 5 req/s, seed 0" if "poisson" in arrival else "closed loop of 1 clients") in r.out
