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


def test_a_length_distribution_is_drawn_per_request_and_seeded(cli):
    """``--prompt-tokens normal:MEAN:SD``: lengths drawn per request (seeded, the seed in the
    output); the same seed gives the same run, another seed another one, and spread lengths give a
    spread of TTFTs that one fixed length does not."""
    base = ("perf", "--model", "llama3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--output-tokens", "64",
            "--arrival", "poisson", "--qps", "5", "--requests", "200", "--format", "json")
    a = cli(*base, "--prompt-tokens", "normal:1000:300", "--seed", "3")
    b = cli(*base, "--prompt-tokens", "normal:1000:300", "--seed", "3")
    c = cli(*base, "--prompt-tokens", "normal:1000:300", "--seed", "4")
    fixed = cli(*base, "--prompt-tokens", "1000", "--seed", "3")
    assert a.code == b.code == c.code == fixed.code == 0, a.err
    sa, sc = a.json()["simulation"], c.json()["simulation"]
    assert a.json() == b.json() and sa["seed"] == 3 and sa != sc
    one = ("perf", "--model", "llama3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--output-tokens", "8",
           "--arrival", "closed", "--concurrency", "1", "--requests", "100", "--format", "json")
    spread = cli(*one, "--prompt-tokens", "normal:2000:600").json()["simulation"]
    same = cli(*one, "--prompt-tokens", "2000").json()["simulation"]
    # one client: each TTFT is its own prefill, so drawn lengths spread them and a fixed one does not
    assert spread["ttft_s_p90"] > 1.2 * spread["ttft_s_p50"] and same["ttft_s_p90"] == pytest.approx(same["ttft_s_p50"])
    offline = cli(*base[:9], "--arrival", "offline", "--requests", "50", "--prompt-tokens", "normal:500:50",
                  "--format", "json")
    assert offline.code == 0 and offline.json()["simulation"]["seed"] is not None


@pytest.mark.parametrize("extra,words", [
    (("--prompt-tokens", "normal:1000"), "normal:MEAN:SD"),
    (("--prompt-tokens", "normal:1000:200"), "add --arrival"),
    (("--prompt-tokens", "normal:x:200", "--arrival", "offline"), "--prompt-tokens mean"),
])
def test_bad_distributions_are_one_line_errors(cli, extra, words):
    r = cli("perf", "--model", "llama3.1-8b", "--gpu", "h100-sxm", *extra)
    assert r.code == 2 and words in r.err and len(r.err.strip().splitlines()) == 1


def test_concurrency_max_is_what_the_kv_pool_holds(cli):
    base = ("perf", "--model", "llama3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--prompt-tokens", "1000",
            "--output-tokens", "1000", "--format", "json")
    d = cli(*base, "--concurrency", "max").json()
    assert d["concurrency"] == d["max_concurrency"] > 1
    assert cli(*base, "--batch", "max").json()["concurrency"] == d["concurrency"]
    closed = cli(*base, "--concurrency", "max", "--arrival", "closed", "--requests", "400").json()["simulation"]
    assert closed["clients"] == d["concurrency"] and closed["max_running"] <= d["concurrency"]
    r = cli("perf", "--model", "llama3.1-70b", "--gpu", "l4", "--quant", "int4", "--prompt-tokens", "3000000",
            "--output-tokens", "10", "--concurrency", "max")
    assert r.code == 2 and "--concurrency max" in r.err
