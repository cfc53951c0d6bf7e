"""Cost model: hand-worked break-even and $/token arithmetic, price kinds, the cost command."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from llamasize.plan.cost import break_even_tokens_per_day, estimate_cost, self_hosted_usd_per_day
from llamasize.plan.pricing import PriceBasis, gpu_hour_price
from llamasize.errors import UsageError
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.perf import estimate_perf
from llamasize.data.prices import ApiModelPrice, ApiProvider


# ------------------------------------------------------------------------------ hand-worked ---
def test_break_even_hand_worked():
    # a replica at $24/h costs $576/day; an API at $0.40 per 1M tokens = 4e-7 $/token:
    # break-even 576 / 4e-7 = 1.44e9 tokens/day
    assert break_even_tokens_per_day(576.0, 0.40 / 1e6) == pytest.approx(1.44e9)
    # GPT-4o at a 3:1 blend: (3 x 2.50 + 1 x 10.00) / 4 = 4.375 $/1M -> $100/day breaks even at 22,857,143
    assert break_even_tokens_per_day(100.0, 4.375 / 1e6) == pytest.approx(22_857_142.857, rel=1e-9)
    with pytest.raises(UsageError):
        break_even_tokens_per_day(100.0, 0.0)


def test_self_hosted_steps_hand_worked():
    assert self_hosted_usd_per_day(1.0, 500.0, 1e9) == (1, 500.0)          # any volume pays one replica
    assert self_hosted_usd_per_day(1e9, 500.0, 1e9) == (1, 500.0)
    assert self_hosted_usd_per_day(1e9 + 1, 500.0, 1e9) == (2, 1000.0)    # one token more: two
    assert self_hosted_usd_per_day(3.5e9, 500.0, 1e9) == (4, 2000.0)


def test_owned_price_hand_worked(registry):
    # $30,000 over 3 years: 30000 / 26280 h = 1.14155 $/h; 700 W x PUE 1.3 x $0.10/kWh = 0.091 $/h
    h100 = registry.gpu("h100")
    price, source = gpu_hour_price(h100, PriceBasis(kind="owned", capex_usd_per_gpu=30000, usd_per_kwh=0.10,
                                                    pue=1.3))
    assert price == pytest.approx(30000 / 26280 + 0.7 * 1.3 * 0.10)
    assert "owned" in source
    with pytest.raises(UsageError):
        gpu_hour_price(h100, PriceBasis(kind="owned"))
    assert gpu_hour_price(registry.gpu("h100-nvl"), PriceBasis(kind="owned", capex_usd_per_gpu=1, usd_per_kwh=1))[0] \
        is not None  # H100 NVL has a TDP
    assert gpu_hour_price(registry.gpu("rtx-5090"), PriceBasis(kind="owned", capex_usd_per_gpu=1,
                                                                usd_per_kwh=1))[0] is None  # no TDP: unknown


def test_price_kinds_from_catalogue(registry):
    h100 = registry.gpu("h100")
    assert gpu_hour_price(h100, PriceBasis())[0] == 4.76
    assert gpu_hour_price(h100, PriceBasis(kind="spot"))[0] == 2.69
    assert gpu_hour_price(h100, PriceBasis(kind="reserved"))[0] == 1.79
    assert gpu_hour_price(h100, PriceBasis(usd_per_gpu_hour=2.0))[0] == 2.0
    assert gpu_hour_price(registry.gpu("mi300x"), PriceBasis())[0] is None
    with pytest.raises(UsageError):
        gpu_hour_price(h100, PriceBasis(kind="free"))


def _api(inp, out):
    price = ApiModelPrice(id="x", name="X", serves="llama4-scout", input_usd_per_mtok=inp, output_usd_per_mtok=out)
    provider = ApiProvider(id="p", name="P", source="test", as_of="2026-01-01", label="assumed", models=[price])
    return provider, price


def test_cost_per_token_and_break_even_against_the_speed_model(registry):
    d = Deployment(model=registry.model("scout"), gpu=registry.gpu("h100"), gpu_count=1, quant="int4_mixed",
                   context_tokens=4096)
    perf = estimate_perf(d, prompt_tokens=3000, output_tokens=1000, concurrency=16)
    cheap, dear = _api(0.05, 0.10), _api(2.50, 10.00)
    c = estimate_cost(perf, d.gpu, PriceBasis(), [cheap, dear], tokens_per_day=5e7)
    usd_s = 4.76 / 3600
    per_request_s = perf.ttft_s + 1000 * perf.tpot_s / 16
    assert c.usd_per_hour == pytest.approx(4.76) and c.usd_per_day == pytest.approx(4.76 * 24)
    assert c.usd_per_mtok_blended == pytest.approx(usd_s * per_request_s / 4000 * 1e6)
    assert c.usd_per_mtok_input == pytest.approx(usd_s * perf.ttft_s / 3000 * 1e6)
    assert c.usd_per_mtok_output == pytest.approx(usd_s * perf.tpot_s / 16 * 1e6)
    assert c.capacity_tokens_per_day == pytest.approx(perf.requests_per_s * 86400 * 4000)
    blended_dear = (3000 * 2.50 + 1000 * 10.00) / 4000 / 1e6
    dear_cmp = next(a for a in c.apis if a.input_usd_per_mtok == 2.50)
    assert dear_cmp.break_even_tokens_per_day == pytest.approx(4.76 * 24 / blended_dear)
    assert dear_cmp.savings_ratio_at_capacity == pytest.approx(c.capacity_tokens_per_day * blended_dear / (4.76 * 24))
    cheap_cmp = next(a for a in c.apis if a.input_usd_per_mtok == 0.05)
    # the cheap API is below the self-hosted cost per token even at capacity: never breaks even
    assert cheap_cmp.breaks_even_within_capacity is False and cheap_cmp.savings_ratio_at_capacity < 1
    assert cheap_cmp.cheaper_at_volume == "api"
    # utilisation 50 % doubles the cost per token and halves the capacity
    half = estimate_cost(perf, d.gpu, PriceBasis(utilization=0.5), [dear])
    assert half.usd_per_mtok_blended == pytest.approx(2 * c.usd_per_mtok_blended)
    assert half.capacity_tokens_per_day == pytest.approx(c.capacity_tokens_per_day / 2)


def test_unknown_price_is_reported(registry):
    d = Deployment(model=registry.model("scout"), gpu=registry.gpu("mi300x"), gpu_count=1, quant="bf16",
                   context_tokens=4096)
    perf = estimate_perf(d, prompt_tokens=1000, output_tokens=100, concurrency=4)
    c = estimate_cost(perf, d.gpu, PriceBasis(), [_api(1, 1)])
    assert c.usd_per_hour is None and c.usd_per_mtok_blended is None
    assert any("no on-demand price" in u for u in c.unknown)
    assert c.apis[0].break_even_tokens_per_day is None


# ------------------------------------------------------------------------------------- CLI ---
@pytest.mark.parametrize("model", ["scout", "maverick"])
@pytest.mark.parametrize("gpu", ["h100", "a100", "4090"])
def test_reference_hardware_reports(cli, model, gpu):
    """Seeds' reference hardware: decode speed, TTFT, $/1M and break-even vs GPT-4o and the
    cheapest Llama 4 API, with assumptions."""
    r = cli("cost", "--model", model, "--gpu", gpu, "--max-nodes", "4", "--format", "json")
    assert r.code == 0, r.err
    d = r.json()
    opt = d["options"][0]
    assert opt["gpu"] == {"h100": "h100-sxm", "a100": "a100-sxm-80gb", "4090": "rtx-4090"}[gpu]
    assert opt["tpot_s"] > 0 and opt["ttft_s"] > 0 and opt["usd_per_mtok_blended"] > 0
    names = [a["api_model"] for a in opt["apis"]]
    assert "GPT-4o" in names
    gpt4o = next(a for a in opt["apis"] if a["api_model"] == "GPT-4o")
    assert gpt4o["break_even_tokens_per_day"] == pytest.approx(opt["usd_per_day"] / (gpt4o["blended_usd_per_mtok"] / 1e6),
                                                              rel=1e-6)
    llama = [a for a in opt["apis"] if a["serves"] == f"llama4-{model}" and not a["suspect"]]
    assert llama and min(a["blended_usd_per_mtok"] for a in llama) == llama[0]["blended_usd_per_mtok"]
    assert {a["name"] for a in d["assumptions"]} >= {"prefill_efficiency", "decode_bandwidth_efficiency", "price",
                                                     "utilization"}


def test_cost_table_has_chart_and_svg_renders(cli, tmp_path):
    svg = tmp_path / "c.svg"
    r = cli("cost", "--model", "maverick", "--tokens-per-day", "50M", "--svg", str(svg))
    assert r.code == 0, r.err
    assert "Cost per day vs daily volume" in r.out and "tokens/day" in r.out
    assert "break-even" in r.out and "GPT-4o" in r.out
    assert "At 50.0M tokens/day the cheapest is" in r.out
    root = ET.fromstring(svg.read_text())
    assert root.tag.endswith("svg")
    lines = [e for e in root.iter() if e.tag.endswith("polyline") or e.tag.endswith("path")]
    assert len(lines) >= 4
    assert "wrote" in r.err


def test_cost_volume_parsing_is_decimal(cli):
    d = cli("cost", "--model", "scout", "--gpu", "h100", "--tokens-per-day", "50M", "-f", "json").json()
    assert d["tokens_per_day"] == 50_000_000
    d = cli("cost", "--model", "scout", "--gpu", "h100", "--tokens-per-day", "2e9", "-f", "json").json()
    assert d["tokens_per_day"] == 2e9


@pytest.mark.parametrize("args", [["--tokens-per-day", "-1"], ["--tokens-per-day", "lots"], ["--utilization", "0"],
                                  ["--price", "free"], ["--price", "owned"], ["--pue", "0.5"],
                                  ["--usd-per-gpu-hour", "nan"], ["--prompt-tokens", "0"]])
def test_cost_bad_input(cli, args):
    r = cli("cost", "--model", "scout", "--gpu", "h100", *args)
    assert r.code == 2, (args, r.err)
    assert len(r.err.strip().splitlines()) == 1 and r.err.startswith("llamasize: error:")


def test_cost_owned_and_spot(cli):
    spot = cli("cost", "-m", "scout", "-g", "h100", "--price", "spot", "-f", "json").json()
    od = cli("cost", "-m", "scout", "-g", "h100", "-f", "json").json()
    assert spot["options"][0]["usd_per_gpu_hour"] == 2.69 and od["options"][0]["usd_per_gpu_hour"] == 4.76
    owned = cli("cost", "-m", "scout", "-g", "h100", "--price", "owned", "--capex-usd-per-gpu", "25000",
                "--usd-per-kwh", "0.12", "--pue", "1.2", "-f", "json").json()
    assert owned["options"][0]["usd_per_gpu_hour"] == pytest.approx(25000 / 26280 + 0.7 * 1.2 * 0.12)


def test_plan_perf_objectives(cli):
    a = cli("plan", "-m", "scout", "-q", "int4", "-c", "8K", "-b", "16", "--objective", "cost-per-token",
            "-f", "json").json()
    rec = a["recommendation"]
    assert rec["usd_per_mtok_blended"] is not None
    for alt in a["alternatives"]:
        if alt["usd_per_mtok_blended"] is not None:
            assert rec["usd_per_mtok_blended"] <= alt["usd_per_mtok_blended"] + 1e-12
    t = cli("plan", "-m", "scout", "-q", "int4", "-c", "8K", "-b", "16", "--objective", "throughput",
            "-f", "json").json()
    for alt in t["alternatives"]:
        assert t["recommendation"]["output_tokens_per_s"] >= alt["output_tokens_per_s"]
    assert math.isfinite(t["recommendation"]["tpot_s"])
