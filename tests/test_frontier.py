"""``llamasize frontier`` (issue 12 item 4): the Pareto frontier of output tokens/s per GPU against
tokens/s per user, one curve per deployment; monotone by construction, rendered as text and SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamasize.plan.frontier import FrontierPoint, concurrencies, pareto

ONE = ("frontier", "-m", "llama3.1-8b", "--gpu", "h100", "--gpus", "1", "--quant", "bf16", "-p", "256", "-o", "32",
       "--max-concurrency", "16")


def _point(c: int, user: float, gpu: float) -> FrontierPoint:
    return FrontierPoint(concurrency=c, tokens_per_s_per_user=user, tokens_per_s_per_gpu=gpu, output_tokens_per_s=gpu,
                         ttft_s_mean=0.1, tpot_s_mean=1 / user, preemptions=0)


def _monotone(frontier: list) -> None:
    """More tokens/s per user never comes with more tokens/s per GPU on one curve."""
    for a, b in zip(frontier, frontier[1:]):
        assert a["tokens_per_s_per_user"] > b["tokens_per_s_per_user"]
        assert a["tokens_per_s_per_gpu"] < b["tokens_per_s_per_gpu"]


@settings(max_examples=30)
@given(st.lists(st.tuples(st.integers(1, 50), st.integers(1, 50)), min_size=1, max_size=25))
def test_pareto_is_monotone_and_keeps_exactly_the_undominated(pairs):
    pts = [_point(i + 1, float(u), float(g)) for i, (u, g) in enumerate(pairs)]
    front = pareto(pts)
    _monotone([p.model_dump() for p in front])

    def dominated(p):
        return any(q.tokens_per_s_per_user >= p.tokens_per_s_per_user and q.tokens_per_s_per_gpu >= p.tokens_per_s_per_gpu
                   and (q.tokens_per_s_per_user, q.tokens_per_s_per_gpu) != (p.tokens_per_s_per_user,
                                                                              p.tokens_per_s_per_gpu) for q in pts)
    kept = {(p.tokens_per_s_per_user, p.tokens_per_s_per_gpu) for p in front}
    for p in pts:
        assert ((p.tokens_per_s_per_user, p.tokens_per_s_per_gpu) in kept) == (not dominated(p))


@pytest.mark.parametrize("limit, expected", [(1, [1]), (2, [1, 2]), (5, [1, 2, 4, 5]), (8, [1, 2, 4, 8])])
def test_concurrency_sweep(limit, expected):
    assert concurrencies(limit) == expected


def test_one_deployment_json_is_monotone_and_simulated(cli):
    r = cli(*ONE, "--format", "json")
    assert r.code == 0, r.err
    doc = r.json()
    (curve,) = doc["curves"]
    assert curve["name"] == "1 x h100-sxm TP1 PP1 bf16" and curve["gpu_count"] == 1
    assert [p["concurrency"] for p in curve["points"]] == [1, 2, 4, 8, 16]
    assert curve["frontier"] and set(map(str, curve["frontier"])) <= set(map(str, curve["points"]))
    _monotone(curve["frontier"])
    for p in curve["points"]:
        assert p["tokens_per_s_per_user"] == pytest.approx(1 / p["tpot_s_mean"])
        assert p["tokens_per_s_per_gpu"] == pytest.approx(p["output_tokens_per_s"] / curve["gpu_count"])
    # batching raises throughput per GPU and lowers the speed each user sees
    assert curve["points"][-1]["tokens_per_s_per_gpu"] > curve["points"][0]["tokens_per_s_per_gpu"]
    assert curve["points"][-1]["tokens_per_s_per_user"] < curve["points"][0]["tokens_per_s_per_user"]


def test_planner_candidates_give_one_curve_each(cli):
    r = cli("frontier", "-m", "llama3.1-8b", "--gpu", "h100", "--quant", "auto", "-p", "256", "-o", "32",
            "--max-concurrency", "4", "--requests", "16", "--format", "json")
    assert r.code == 0, r.err
    curves = r.json()["curves"]
    assert len(curves) >= 2 and len({c["quant"] for c in curves}) == len(curves)
    for c in curves:
        _monotone(c["frontier"])


def test_text_chart_and_svg(cli, tmp_path):
    svg = tmp_path / "frontier.svg"
    r = cli(*ONE, "--svg", str(svg))
    assert r.code == 0, r.err
    assert "output tokens/s per user" in r.out and "output tokens/s per GPU" in r.out
    assert "  *  1 x h100-sxm TP1 PP1 bf16" in r.out and "$" not in r.out.split("Pareto-optimal points)")[1]
    root = ET.fromstring(svg.read_text())
    assert root.tag.endswith("svg") and len([e for e in root.iter() if e.tag.endswith("polyline")]) == 1
    again = cli(*ONE, "--svg", str(svg))
    assert again.code != 0 and "exists" in again.err


@pytest.mark.parametrize("args, message", [
    (("--gpus", "1"), "give exactly one --gpu"),
    (("--gpu", "h100", "--gpus", "1", "--quant", "auto"), "one deployment needs one format"),
    (("--gpu", "h100", "-p", "4096", "--ctx", "2048"), "shorter than prompt + output"),
])
def test_bad_frontier_flags_are_usage_errors(cli, args, message):
    r = cli("frontier", "-m", "llama3.1-8b", *args)
    assert r.code == 2 and message in r.err, (r.code, r.err)


def test_json_validates_against_the_frontier_schema(cli):
    from jsonschema import Draft202012Validator

    r = cli(*ONE, "--format", "json")
    errors = list(Draft202012Validator(cli("schema", "frontier").json()).iter_errors(r.json()))
    assert not errors, errors[0]


def test_one_deployment_without_quant_takes_the_checkpoint_format_as_fit_does(cli):
    args = [a for a in ONE if a not in ("--quant", "bf16")]
    r = cli(*args, "--format", "json")
    assert r.code == 0, r.err
    fit = cli("fit", "-m", "llama3.1-8b", "--gpu", "h100", "--ctx", "288", "--format", "json").json()
    (curve,) = r.json()["curves"]
    assert curve["name"] == f"1 x h100-sxm TP1 PP1 {fit['quant']}"
