"""Renderer of an SLO-driven plan (``plan --max-ttft/--max-tpot``): table, markdown, json."""

from __future__ import annotations

from llamasize.plan.results import SloOption, SloPlanResult
from llamasize.render.common import engine_label, seconds, table, to_json, usd_per_mtok


def _usd(v: float | None) -> str:
    return "unknown" if v is None else f"${v:,.2f}"


def slo_option_line(o: SloOption) -> str:
    """One line: replicas x deployment, concurrency cap, price."""
    ep = " · EP" if o.expert_parallel else ""
    dp = f"DP {o.data_parallel_size} · " if o.data_parallel_size > 1 else ""
    return (f"{o.replicas} replica{'s' if o.replicas > 1 else ''} x {o.gpu_count} x {o.gpu} · {dp}TP "
            f"{o.tensor_parallel_size} · PP {o.pipeline_parallel_size}{ep} · {o.quant} · KV {o.kv_cache_dtype} · "
            f"max_num_seqs {o.max_num_seqs} · {_usd(o.total_usd_per_hour)}/h")


def _targets(res: SloPlanResult) -> str:
    s = res.slo
    parts = []
    if s.max_ttft_s is not None:
        parts.append(f"TTFT <= {seconds(s.max_ttft_s)}")
    if s.max_tpot_s is not None:
        parts.append(f"TPOT <= {seconds(s.max_tpot_s)}")
    return f"{s.percentile} " + " and ".join(parts)


def _detail(o: SloOption, pct: str) -> list[str]:
    s = o.simulation
    return [
        f"  simulated per replica at {o.qps_per_replica:,.4g} requests/s (Poisson, {s.requests} requests, seed "
        f"{s.seed}): {pct} TTFT {seconds(o.ttft_s)}, {pct} TPOT {seconds(o.tpot_s)}; mean TTFT "
        f"{seconds(s.ttft_s_mean)}, mean TPOT {seconds(s.tpot_s_mean)}; {s.output_tokens_per_s:,.0f} output tokens/s",
        f"  {_usd(o.price_usd_per_hour)}/h per replica, {_usd(o.total_usd_per_hour)}/h in total; "
        f"{usd_per_mtok(o.usd_per_mtok_blended)} per 1M tokens at this load; KV use {s.kv_utilization:.0%} mean, "
        f"{s.preemptions} preemptions",
    ]


def render_slo_plan(res: SloPlanResult, fmt: str) -> str:
    """``llamasize plan`` with latency targets."""
    if fmt == "json":
        return to_json(res)
    md = fmt == "markdown"
    r, s = res.request, res.slo
    load = f"{s.qps:,.4g} requests/s" + (f" ({s.requests_per_day:,.0f} requests/day)" if s.requests_per_day else "")
    lines = [f"{'## ' if md else ''}SLO plan for {res.model}: {_targets(res)} at {load}, {r.prompt_tokens:,} + "
             f"{r.output_tokens:,} tokens, {r.quant} weights, {engine_label(r.engine, r.engine_version)}, objective {r.objective}", ""]
    o = res.recommendation
    if o is None:
        lines.append("NOTHING MEETS the targets within the limits.")
        if res.nearest_miss_text:
            lines.append(res.nearest_miss_text)
            lines += _detail(res.nearest_miss, s.percentile) if res.nearest_miss.qps_per_replica else []
    else:
        lines.append(f"{'**' if md else ''}Recommendation:{'**' if md else ''} {slo_option_line(o)}")
        lines += _detail(o, s.percentile)
    out = "\n".join(lines) + "\n\n"
    if res.alternatives:
        headers = ["#", "gpu", "GPUs", "layout", "quant", "replicas", "max seqs", f"{s.percentile} TTFT",
                   f"{s.percentile} TPOT", "$/1M tok", "$/h total"]
        rows = [[str(i), a.gpu, str(a.gpu_count),
                 (f"DP{a.data_parallel_size} " if a.data_parallel_size > 1 else "")
                 + f"TP{a.tensor_parallel_size} PP{a.pipeline_parallel_size}" + (" EP" if a.expert_parallel else ""),
                 a.quant, str(a.replicas), str(a.max_num_seqs), seconds(a.ttft_s), seconds(a.tpot_s),
                 usd_per_mtok(a.usd_per_mtok_blended), _usd(a.total_usd_per_hour)]
                for i, a in enumerate(res.alternatives, 2)]
        out += table(fmt, "Alternatives (each deployment's cheapest point that meets the targets)", headers, rows,
                     right=(0, 2, 5, 6, 7, 8, 9, 10)) + "\n"
    for w in res.warnings:
        out += f"  warning: {w}\n"
    out += "Assumptions\n" if not md else "**Assumptions**\n\n"
    for a in res.assumptions:
        out += f"  - {a.name}: {a.value} [{a.source}]\n"
    out += (f"\n{res.candidates} candidate deployments, {res.candidates_pruned} pruned by a bound, "
            f"{res.simulations} simulations\n")
    return out
