"""The engine's start-up report of one deployment: the KV groups, block count, token count and
maximum concurrency as the engine computes them, and the log lines in its own words
(docs/facts/engine-memory.md items 1, 6, 8; docs/facts/serving.md 2.1 ``update_kv_cache_capacity``).

vLLM (``kv_cache_utils``): the KV layers of a stage form groups of ``g`` layers (``g`` = the
smallest layer count of any attention type when the hybrid manager is on, else every layer in one
group); a type of ``c`` layers takes ``ceil(c / g)`` groups, the last padded ("Add N padding
layers"). Each block of the pool costs ``g x block_size x bytes per token per layer``;
``num_blocks = available // that``, the smallest over the pipeline stages. "GPU KV cache size" is
``num_blocks // groups x block_size`` tokens up to 0.25 (windowed layers billed at full cost) and
``max_concurrency x max_model_len`` from 0.26; "Maximum concurrency" is ``num_blocks`` over the
blocks one request of ``max_model_len`` needs, a windowed group charged ``min(window +
max_num_batched_tokens, max_model_len)`` tokens.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from llamasize.data.spec import ModelSpec
from llamasize.estimate import engine_memory as em
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.engine_profiles import EngineProfile
from llamasize.estimate.fit_result import EngineReport
from llamasize.estimate.kv import kv_bytes_per_token_layer
from llamasize.estimate.parallel import pp_partition
from llamasize.units import GIB


@dataclass(frozen=True)
class EngineItems:
    """The start-up line items of each pipeline stage (bytes), with how each was obtained."""

    weights: tuple[int, ...]
    activations: tuple[int, ...]
    non_torch: int
    cuda_graphs: tuple[int, ...]
    graphs_deducted: bool
    startup_context: int
    capacity: tuple[int, ...]
    basis: dict[str, str]


def kv_groups(spec: ModelSpec, layers, hybrid: bool) -> tuple[int, list[tuple[str, int]], int]:
    """``(g, [(type, groups of it)], padding layers)`` for the KV layers among ``layers``."""
    types = spec.resolved_layer_types()
    counts = Counter(types[i] for i in layers if types[i] != "linear_attention")
    if not counts:
        return 1, [], 0
    if not hybrid or len(counts) == 1:
        return sum(counts.values()), [("full_attention", 1)], 0
    g = min(counts.values())
    groups = [(t, -(-c // g)) for t, c in sorted(counts.items())]
    return g, groups, sum(n for _, n in groups) * g - sum(counts.values())


def _gib(v: int) -> str:
    """vLLM's GiB figure: rounded to 2 decimals, printed without trailing zeros (``1.1``, ``58.11``)."""
    x = round(v / GIB, 2)
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else f"{x:.1f}"


def vllm_report(spec: ModelSpec, profile: EngineProfile, items: EngineItems, *, tp: int, pp: int, kv_bytes: int,
                block: int, hybrid: bool, in_flight: int, max_model_len: int) -> EngineReport:
    """vLLM's report (module docstring); the printed items are the first stage's (rank 0 logs)."""
    per_layer = kv_bytes_per_token_layer(spec, kv_bytes, tp)
    stages = pp_partition(spec.num_hidden_layers, pp)
    blocks = None
    for k, layers in enumerate(stages):
        g, groups, _ = kv_groups(spec, layers, hybrid)
        n = max(0, items.capacity[k]) // (g * block * per_layer) if groups else 0
        blocks = n if blocks is None else min(blocks, n)
    g, groups, padding = kv_groups(spec, stages[0], hybrid)
    need = 0
    for t, n in groups:
        window = spec.window_of(t) if hybrid else None
        tokens = max_model_len if window is None else min(window + in_flight, max_model_len)
        need += n * -(-tokens // block)
    conc = blocks / need if need else 0.0
    n_groups = max(1, len(groups) and sum(n for _, n in groups))
    tokens = blocks // n_groups * block if profile.tokens_line == "available" else int(conc * max_model_len)
    w, act, nt, cg = items.weights[0], items.activations[0], items.non_torch, items.cuda_graphs[0]
    avail = items.capacity[0]
    lines = []
    if padding:
        lines.append(f"Add {padding} padding layers, may waste at most "
                     f"{padding / (n_groups * g - padding):.2%} KV cache memory")
    lines += [
        f"torch peak memory increase: {_gib(act)}GiB; non-torch forward increase memory: {_gib(nt)}GiB; "
        f"weights memory: {_gib(w)}GiB",
        f"CUDA graph memory: {_gib(cg)} GiB ({'deducted from the KV budget' if items.graphs_deducted else 'outside the budget, not deducted'}; llamasize's words)",
        f"Available KV cache memory: {_gib(avail)} GiB",
        f"GPU KV cache size: {tokens:,} tokens",
        f"Maximum concurrency for {max_model_len:,} tokens per request: {conc:.2f}x",
    ]
    return EngineReport(
        engine="vllm", engine_version=profile.version, rules_hold_for=profile.holds_for, weights_bytes=w,
        activation_peak_bytes=act, non_torch_bytes=nt, cuda_graph_bytes=cg, cuda_graph_deducted=items.graphs_deducted,
        startup_context_bytes=items.startup_context, available_kv_bytes=avail, kv_cache_tokens=tokens,
        kv_cache_blocks=blocks, block_size=block, max_model_len=max_model_len, max_concurrency=round(conc, 4),
        kv_groups=n_groups, padding_layers=padding, basis=items.basis, log_lines=lines)


#: SGLang's ``--hybrid-kvcache-ratio`` default (docs/facts/engine-memory.md item 7).
SGLANG_HYBRID_KVCACHE_RATIO = 0.5


def sglang_two_pools(tokens: int, ratio: float, chunk: int, context_len: int) -> tuple[int, int]:
    """SGLang's two Llama 4 pools ``(full, local)`` from the one-pool token count ``tokens``:
    ``t = (1 - ratio) + ratio x chunk / context_len``, full = ``4 tokens / (3t + 1)``, local =
    ``4 tokens t / (3t + 1)`` (the 1 global : 3 chunked layer ratio of Llama 4; memory conserved:
    ``12 full + 36 local = 48 tokens``). From SGLang's ``model_runner`` (``set_num_token_hybrid``),
    recalled, not in the sourced facts: labelled assumed."""
    t = (1 - ratio) + ratio * chunk / context_len
    return int(4 * tokens // (3 * t + 1)), int(4 * tokens * t // (3 * t + 1))


def pool_report(spec: ModelSpec, profile: EngineProfile, items: EngineItems, *, engine: str, tp: int, pp: int,
                kv_bytes: int, block: int, max_model_len: int, two_pools: bool = False) -> EngineReport:
    """SGLang's and TensorRT-LLM's report: one token pool over every KV layer of a stage
    (``#tokens = pool // bytes per token``, the smallest over the stages)."""
    per_layer = kv_bytes_per_token_layer(spec, kv_bytes, tp)
    types = spec.resolved_layer_types()
    tokens = None
    for k, layers in enumerate(pp_partition(spec.num_hidden_layers, pp)):
        n_kv = sum(1 for i in layers if types[i] != "linear_attention") or 1
        t = max(0, items.capacity[k]) // (per_layer * n_kv) // block * block
        tokens = t if tokens is None else min(tokens, t)
    n_kv0 = sum(1 for i in pp_partition(spec.num_hidden_layers, pp)[0] if types[i] != "linear_attention") or 1
    half = tokens * per_layer * n_kv0 // 2
    conc = tokens / max_model_len
    w, avail = items.weights[0], items.capacity[0]
    basis = items.basis
    if engine == "sglang":
        lines = [f"Load weight end. mem usage={w / GIB:.2f} GB",
                 f"KV Cache is allocated. #tokens: {tokens}, K size: {half / GIB:.2f} GB, V size: {half / GIB:.2f} GB",
                 f"(llamasize: {conc:.2f} requests of {max_model_len:,} tokens; SGLang's \"GB\" are GiB)"]
        if two_pools and spec.attention_chunk_size:
            full, local = sglang_two_pools(tokens, SGLANG_HYBRID_KVCACHE_RATIO, spec.attention_chunk_size,
                                           max_model_len)
            per_request_local = min(spec.attention_chunk_size, max_model_len)
            conc = min(full / max_model_len, local / per_request_local)
            lines.append(f"(llamasize: two pools, --hybrid-kvcache-ratio {SGLANG_HYBRID_KVCACHE_RATIO}: full {full:,} "
                         f"tokens, local {local:,} tokens; {conc:.2f} requests of {max_model_len:,} tokens)")
            basis = {**basis, "kv_cache_tokens": "assumed (SGLang two-pool split recalled from its source)"}
    else:
        lines = [f"weights: {w / GIB:.2f} GiB; activations: {items.activations[0] / GIB:.2f} GiB "
                 f"(llamasize's words: the TensorRT-LLM log wording is not in the sourced facts)",
                 f"KV cache: {avail / GIB:.2f} GiB = kv_cache_free_gpu_mem_fraction of the free memory; "
                 f"{tokens:,} tokens in blocks of {block}; {conc:.2f} requests of {max_model_len:,} tokens"]
    return EngineReport(
        engine=engine, engine_version=profile.version, rules_hold_for=profile.holds_for, weights_bytes=w,
        activation_peak_bytes=items.activations[0], non_torch_bytes=items.non_torch, cuda_graph_bytes=items.cuda_graphs[0],
        cuda_graph_deducted=items.graphs_deducted, startup_context_bytes=items.startup_context, available_kv_bytes=avail,
        kv_cache_tokens=tokens, kv_cache_blocks=tokens // block if block > 1 else None, block_size=block,
        max_model_len=max_model_len, max_concurrency=round(conc, 4), kv_groups=2 if basis is not items.basis else 1,
        padding_layers=0, basis=basis, log_lines=lines)


def engine_report(d: Deployment, s, core) -> EngineReport | None:
    """The engine's start-up report of ``memory.estimate_memory`` (``s``: its ``Settings``, ``core``: its
    ``MemoryCore``); None for the generic engine."""
    b, corr, spec = s.budget, d.engine_correction, d.model
    if b.engine == "generic":
        return None

    def label(item: str, value, modelled: str) -> str:
        return f"calibrated ({corr.source})" if corr is not None and getattr(corr, item) is not None else modelled

    vllm = b.engine == "vllm"
    basis = {
        "weights_bytes": label("weights_bytes", None, "modelled (weight table + rotary cache + vocab padding)"
                               if b.engine != "trtllm" else "modelled (weight table)"),
        "activation_peak_bytes": label("activation_peak_bytes", None,
                                       "modelled (sampler logits, MoE workspace, encoder)" if vllm else
                                       "outside the budget (SGLang reserve)" if b.engine == "sglang" else
                                       "assumed (analytical forward peak)"),
        "non_torch_bytes": label("non_torch_bytes", None, "as given (--overhead-gib)" if d.overhead_bytes is not None
                                 else "measured (vLLM logs by TP/PP, docs/facts/engine-memory.md item 4)" if vllm
                                 else "assumed"),
        "cuda_graph_bytes": label("cuda_graph_bytes", None, "fitted (vLLM 0.19.0 pool sizes)"),
        "startup_context_bytes": "measured (vLLM 0.19.0 init context, docs/facts/engine-memory.md item 2)",
        "available_kv_bytes": "modelled (the budget identity)",
    }
    items = EngineItems(core.weights, core.activations, b.overhead_bytes, core.graphs, any(core.deducted),
                        em.startup_context_bytes(s.tp, s.pp), tuple(core.capacity(k) for k in range(s.pp)), basis)
    if vllm:
        return vllm_report(spec, s.profile, items, tp=s.tp, pp=s.pp, kv_bytes=s.kv_bytes, block=b.block_size,
                           hybrid=s.layout == "hybrid", in_flight=s.batched_tokens, max_model_len=d.context_tokens)
    return pool_report(spec, s.profile, items, engine=b.engine, tp=s.tp, pp=s.pp, kv_bytes=s.kv_bytes,
                       block=b.block_size, max_model_len=d.context_tokens,
                       two_pools=b.engine == "sglang" and s.layout == "hybrid")


def startup_warnings(d: Deployment, s, core) -> list[str]:
    """vLLM: warn when ``(1 - util) x total`` cannot hold what lives outside the budget: the start-up
    context, the CUDA-graph pool when it is not deducted, and the sampler warm-up (facts item 2)."""
    b = s.budget
    if b.engine != "vllm":
        return []
    margin = b.total_bytes - b.budget_bytes
    ctx = em.startup_context_bytes(s.tp, s.pp)
    graphs = 0 if any(core.deducted) else max(core.graphs)
    warm = em.sampler_warmup_bytes(d.model, s.max_seqs)
    need = ctx + graphs + warm
    if need <= margin:
        return []
    return [f"(1 - gpu_memory_utilization) x total = {margin / GIB:.2f} GiB cannot hold what vLLM allocates outside "
            f"its budget: start-up context {ctx / GIB:.2f} GiB + CUDA graphs {graphs / GIB:.2f} GiB "
            f"+ sampler warm-up {warm / GIB:.2f} GiB ({s.max_seqs:,} x {d.model.vocab_size:,} fp32 logits) = "
            f"{need / GIB:.2f} GiB: it may run out of memory after the KV cache is allocated; lower "
            "--gpu-memory-utilization or --max-num-seqs (docs/facts/engine-memory.md item 2)"]
