"""Every command-line flag, declared once, as a ``typing.Annotated`` alias used by the commands.

A command declares a parameter as ``model: ModelName`` (required: no default) or
``quant: Quant = None`` (optional). Defaults are not chosen here: an optional flag's Python default
is ``None`` (or ``False`` for an on/off flag), and ``llamasize.cli.inputs`` picks the value when the
flag is absent, so the help texts say what that default is.

Required flags: typer 0.16 with click >= 8.3 marks a parameter without a default as required but
gives click ``None`` as its default, and click's UNSET-based missing check then never fires (the
command ran with ``model=None`` and failed with an internal error, exit 70). The aliases that some
command uses as required therefore carry ``_required``, a callback that raises click's own
``MissingParameter`` (the usual one-line usage error, exit 2) on those versions; newer typer raises
it before the callback runs. An optional use of the same alias (``plan --model``) is unaffected.

No ``from __future__ import annotations`` here: typer reads the callback's annotations to know which
argument is the context.
"""

import importlib
from pathlib import Path
from typing import Annotated, Any, List, Optional

import typer


def _required(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """Raise click's MissingParameter for a required parameter that got no value (see above)."""
    if param.required and (value is None or value == ()):
        core = next(c.__module__ for c in type(param).__mro__ if c.__module__.endswith("click.core"))
        exceptions = importlib.import_module(core[: -len("core")] + "exceptions")
        raise exceptions.MissingParameter(ctx=ctx, param=param)
    return value


# ------------------------------------------------------------------------------------- common ---
Format = Annotated[Optional[str], typer.Option("--format", "-f", help="Output format: table (default), json or markdown; plan also tfvars; check: text (default; github when $GITHUB_ACTIONS is 'true'), json, markdown, github, sarif, junit.")]
SpecsDir = Annotated[Optional[List[Path]], typer.Option("--specs-dir", help="Extra model-spec directory (repeatable; also $LLAMASIZE_SPECS_PATH).")]
CatalogDir = Annotated[Optional[List[Path]], typer.Option("--catalog-dir", help="Extra GPU-catalogue directory (repeatable; also $LLAMASIZE_CATALOG_PATH).")]
Debug = Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")]
Instances = Annotated[bool, typer.Option("--instances", help="List the cloud instance types (AWS, GCP, Azure) and the GPUs they carry instead of the GPUs.")]
Workload = Annotated[Optional[Path], typer.Option("--workload", "-w", help="YAML file with the same keys as the flags, '-' written '_' (flags win).")]
Calibration = Annotated[Optional[Path], typer.Option("--calibration", help="Calibration file written by 'llamasize verify' and 'llamasize calibrate --from-log' (default: the user cache).")]

# --------------------------------------------------------------------------------- deployment ---
ModelName = Annotated[Optional[str], typer.Option("--model", "-m", callback=_required, help="Model: a registry id or alias; a Hugging Face repo id (org/name[@revision], hf://...) the registry lists, else one in the local HF cache ($HF_HUB_CACHE, $HF_HOME/hub; offline); or a path to a checkpoint directory, config.json or .gguf file ('./x' for a path named like an id). verify and run: default micro-moe.")]
ModelArg = Annotated[Optional[str], typer.Argument(callback=_required, help="Model: a registry id or alias; a Hugging Face repo id (org/name[@revision]) the registry lists, else one in the local HF cache (offline); or a path to a checkpoint directory, config.json or .gguf file.")]
Gpu = Annotated[Optional[str], typer.Option("--gpu", "-g", callback=_required, help="GPU id or alias (see 'llamasize gpus'), a cloud instance type (p5.48xlarge, a3-highgpu-8g, Standard_ND96isr_H100_v5; see 'llamasize gpus --instances'), or 'local': the detected GPU, else this CPU.")]
Gpus = Annotated[Optional[str], typer.Option("--gpus", "-n", help="Number of GPUs in the deployment (default 1; with an instance type, its GPU count: more must be whole instances).")]
Tp = Annotated[Optional[str], typer.Option("--tp", help="Tensor-parallel size (default: --gpus / --pp).")]
Pp = Annotated[Optional[str], typer.Option("--pp", help="Pipeline-parallel size (default 1).")]
Ep = Annotated[bool, typer.Option("--ep", help="Expert parallelism for MoE layers (vLLM --enable-expert-parallel).")]
Dp = Annotated[Optional[str], typer.Option("--dp", "--data-parallel-size", help="Attention data-parallel ranks (vLLM --data-parallel-size, SGLang --dp-size with --enable-dp-attention): each rank runs attention on its own sequences with --tp GPUs, the MoE layers span all dp x tp GPUs (default 1; --gpus = dp x tp x pp).")]
DpAttention = Annotated[bool, typer.Option("--dp-attention", help="Attention data parallelism over every GPU of a stage (SGLang --enable-dp-attention spelling): --dp defaults to --gpus / (--tp x --pp), --tp to 1.")]
Quant = Annotated[Optional[str], typer.Option("--quant", "-q", help="Weight format (fp32 bf16 fp16 fp8 fp8_mixed int4_mixed int8 int4 nf4 mxfp4 nvfp4 q8_0 q6_k q5_k_m q4_k_m q4_0 q3_k_m q2_k, fp8_experts, or a checkpoint format id such as gptq-w4-g128, bnb-nf4-dq, ct-fp8-channel, mlx-4bit-g64); fit and perf default to the format the model's checkpoint ships in; plan, sweep and cost also take 'auto' (every format the GPU runs well; their default).")]
KvDtype = Annotated[Optional[str], typer.Option("--kv-dtype", help="KV-cache dtype: auto (the model's dtype; default), bf16, fp16, fp8; plan, sweep and cost also 'any' (search auto and fp8).")]
Ctx = Annotated[Optional[str], typer.Option("--ctx", "-c", callback=_required, help="Context length per sequence (8K = 8,192; 8k = 8,000; 1M = 1,048,576); required by fit and plan; perf and cost default to prompt + output.")]
Contexts = Annotated[Optional[str], typer.Option("--ctx", "-c", help="Comma-separated context lengths (e.g. 8K,128K,1M,10M; default 8K,128K,1M).")]
Batch = Annotated[Optional[str], typer.Option("--batch", "-b", help="Concurrent sequences at that context (default 1; perf: max = the largest concurrency the KV pool holds).")]
Engine = Annotated[Optional[str], typer.Option("--engine", "-e", help="Serving engine whose memory rules apply: vllm (default), sglang, trtllm (TensorRT-LLM), generic.")]
KvLayout = Annotated[Optional[str], typer.Option("--kv-layout", help="KV layout: full (every layer full length), hybrid (windowed and chunked layers capped), auto (the engine's default; run: full is the default).")]
GpuMemoryUtilization = Annotated[Optional[str], typer.Option("--gpu-memory-utilization", help="vLLM's fraction of total GPU memory (default 0.92).")]
MemFractionStatic = Annotated[Optional[str], typer.Option("--mem-fraction-static", help="SGLang's fraction for weights + KV (default: SGLang's automatic rule).")]
MaxNumBatchedTokens = Annotated[Optional[str], typer.Option("--max-num-batched-tokens", help="Tokens per forward pass (activation peak; in-flight tokens of windowed layers).")]
MaxNumSeqs = Annotated[Optional[str], typer.Option("--max-num-seqs", help="Sequences per step (sampler peak).")]
OverheadGib = Annotated[Optional[str], typer.Option("--overhead-gib", help="Runtime overhead per GPU in GiB, replacing the engine default.")]
TextOnly = Annotated[bool, typer.Option("--text-only", help="Do not load the vision tower.")]
# engine memory profiles (issue 12 item 1; estimate/engine_profiles.py)
EngineVersion = Annotated[Optional[str], typer.Option("--engine-version", help="Engine release whose memory rules apply, X.Y.Z (default: the current release, vLLM 0.33.0 / SGLang 0.5.23).")]
HybridKvCache = Annotated[Optional[str], typer.Option("--hybrid-kv-cache", help="vLLM's hybrid KV manager for chunked-local attention (Llama 4): on, off, auto (the version's default); mirrors VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE.")]
KvCacheFreeGpuMemFraction = Annotated[Optional[str], typer.Option("--kv-cache-free-gpu-mem-fraction", help="TensorRT-LLM's KV fraction of the memory left after weights and activations (default 0.9; --engine trtllm).")]

# ------------------------------------------------------------------------------ speed and cost ---
PromptTokens = Annotated[Optional[str], typer.Option("--prompt-tokens", "-p", help="Prompt tokens per request (default 2048; perf --arrival: or normal:MEAN:SD, drawn per request, seeded; verify: of the prefill measurement, default 64; run: random prompt tokens, default 32).")]
OutputTokens = Annotated[Optional[str], typer.Option("--output-tokens", "-o", help="Generated tokens per request (default 512; perf --arrival: or normal:MEAN:SD).")]
Concurrency = Annotated[Optional[str], typer.Option("--concurrency", help="Sequences decoded together (perf: default --batch, or max = the largest concurrency the KV pool holds; cost: default 32, or the workload's batch).")]
RequestsPerDay = Annotated[Optional[str], typer.Option("--requests-per-day", help="Daily requests to check the deployment's capacity against.")]
Arrival = Annotated[Optional[str], typer.Option("--arrival", help="Simulate continuous batching step by step: 'offline' (--requests all queued at t=0, as benchmark tables are measured), 'poisson' (--qps, seeded by --seed) or 'closed' (--concurrency clients, each sending its next request when the last finishes). Without it perf gives the closed-form steady state.")]
Requests = Annotated[Optional[str], typer.Option("--requests", help="Requests in the simulation (--arrival; default 1000).")]
Qps = Annotated[Optional[str], typer.Option("--qps", help="Arrival rate of --arrival poisson (requests/s).")]
Admission = Annotated[Optional[str], typer.Option("--admission", help="How the simulated scheduler admits a request: 'greedy' (vLLM V1: when its KV fits now; preempts later; default) or 'reserve' (TensorRT-LLM GUARANTEED_NO_EVICT: when its whole prompt + output fits).")]
SimSeed = Annotated[Optional[int], typer.Option("--seed", help="Seed of the Poisson arrival times (default 0).")]
PrefillEfficiency = Annotated[Optional[str], typer.Option("--prefill-efficiency", help="Override the prefill efficiency (fraction of dense peak).")]
DecodeEfficiency = Annotated[Optional[str], typer.Option("--decode-efficiency", help="Override the decode efficiency (fraction of memory bandwidth).")]
TokensPerDay = Annotated[Optional[str], typer.Option("--tokens-per-day", help="Daily token volume (input + output) to price, e.g. 50m or 2e9.")]
Price = Annotated[Optional[str], typer.Option("--price", help="GPU-hour price: on_demand (default), spot, reserved, capacity_block; cost also owned.")]
UsdPerGpuHour = Annotated[Optional[str], typer.Option("--usd-per-gpu-hour", help="Your own price per GPU-hour (wins over the catalogue).")]
CapexUsdPerGpu = Annotated[Optional[str], typer.Option("--capex-usd-per-gpu", help="--price owned: purchase price per GPU (USD).")]
AmortizationYears = Annotated[Optional[str], typer.Option("--amortization-years", help="--price owned: straight-line term (default 3).")]
UsdPerKwh = Annotated[Optional[str], typer.Option("--usd-per-kwh", help="--price owned: electricity price.")]
Pue = Annotated[Optional[str], typer.Option("--pue", help="--price owned: power usage effectiveness (default 1.0).")]
Utilization = Annotated[Optional[str], typer.Option("--utilization", help="Fraction of the day serving at full throughput (default 1.0).")]
CostOptions = Annotated[Optional[int], typer.Option("--options", min=1, max=20, help="How many self-hosted options to compare (default 3).")]
AllReferences = Annotated[bool, typer.Option("--all-references", help="Compare with every frontier reference API, not only GPT-4o and Claude Sonnet.")]
Svg = Annotated[Optional[Path], typer.Option("--svg", help="Also write the cost-vs-volume chart to this SVG file (a new file; never through a symlink).")]
Force = Annotated[bool, typer.Option("--force", help="Let --svg overwrite an existing file.")]

# ------------------------------------------------------------------------------------- search ---
GpuTypes = Annotated[Optional[List[str]], typer.Option("--gpu", "-g", help="GPU types to search (comma-separated or repeated; default: the whole catalogue).")]
ExcludeGpu = Annotated[Optional[List[str]], typer.Option("--exclude-gpu", help="GPU types to leave out.")]
MaxGpus = Annotated[Optional[str], typer.Option("--max-gpus", help="At most this many GPUs (per replica).")]
MaxNodes = Annotated[Optional[str], typer.Option("--max-nodes", help="At most this many nodes (plan: default one, widened to 4 when nothing fits in one; sweep: default 4).")]
Budget = Annotated[Optional[str], typer.Option("--budget", help="Budget in USD per hour for the whole deployment.")]
Headroom = Annotated[Optional[str], typer.Option("--headroom", help="Fraction of the engine budget that must stay free (default 0.05).")]
Objective = Annotated[Optional[str], typer.Option("--objective", help="cost (default: cheapest per hour), gpus (fewest), headroom (most), cost-per-token, throughput.")]
Mau = Annotated[Optional[str], typer.Option("--mau", help="Monthly active users, checked against the license's threshold.")]
Layouts = Annotated[Optional[str], typer.Option("--layouts", help="practical (TP in a node, PP across nodes; default) or all.")]
Alternatives = Annotated[Optional[int], typer.Option("--alternatives", min=0, max=50, help="How many alternatives to list (default 5).")]
Emit = Annotated[Optional[str], typer.Option("--emit", help="Print the recommendation as a launch command (vllm, sglang) or a Kubernetes manifest (deployment, lws, kserve) for the plan's --engine.")]

# -------------------------------------------------------------------- SLO planning, frontier ---
MaxTtft = Annotated[Optional[str], typer.Option("--max-ttft", help="plan/cost: latency target, time to first token at --slo-percentile (e.g. 2s, 500ms): search deployment x replicas x concurrency cap by simulation.")]
MaxTpot = Annotated[Optional[str], typer.Option("--max-tpot", help="plan/cost: latency target, time per output token at --slo-percentile (e.g. 50ms).")]
SloPercentile = Annotated[Optional[str], typer.Option("--slo-percentile", help="Percentile the latency targets apply to: p50, p90 (default) or p99.")]
SloQps = Annotated[Optional[str], typer.Option("--qps", help="With --max-ttft/--max-tpot: the load, mean requests/s for the whole deployment (split evenly over replicas).")]
SloRequestsPerDay = Annotated[Optional[str], typer.Option("--requests-per-day", help="With --max-ttft/--max-tpot: the load as requests a day (mean rate = N / 86,400 s; no peak factor).")]
SloRequests = Annotated[Optional[str], typer.Option("--requests", help="Requests simulated per point (plan/cost SLO search: default 200; frontier: default 4 x concurrency, at least 32).")]
FrontierConcurrency = Annotated[Optional[str], typer.Option("--max-concurrency", help="frontier: largest concurrency swept (default: what the KV cache holds, at most 1024).")]

# -------------------------------------------------------------------------------------- check ---
Paths = Annotated[Optional[List[str]], typer.Argument(help="Manifest files and directories (a directory: every *.yaml / *.yml below it, hidden directories skipped).")]
ListRules = Annotated[bool, typer.Option("--list-rules", help="Print every rule (id, name, severity, description; --format text, json or markdown) and exit.")]
Policy = Annotated[Optional[Path], typer.Option("--policy", help="YAML policy file: max_usd_per_hour, min_headroom, fail_on, strict (flags win).")]
MaxUsdPerHour = Annotated[Optional[str], typer.Option("--max-usd-per-hour", help="Budget per deployment, USD per hour for all its replicas.")]
MinHeadroom = Annotated[Optional[str], typer.Option("--min-headroom", help="Free fraction of the engine budget each GPU must keep (e.g. 0.1).")]
FailOn = Annotated[Optional[str], typer.Option("--fail-on", help="Exit 1 on findings of this severity or worse: error (default) or warning.")]
Strict = Annotated[Optional[bool], typer.Option("--strict/--no-strict", help="Unknown models/GPUs and values llamasize cannot model are errors.")]
DefaultGpu = Annotated[Optional[str], typer.Option("--default-gpu", help="GPU id to assume when a manifest does not pin a GPU type.")]
SchemaName = Annotated[Optional[str], typer.Argument(help="plan, fit, params, perf, cost, sweep, plan-slo, frontier, check, check-compare, calibrate, terraform-external, tfvars, llamasize.yaml or policy (none: list them).")]

# --------------------------------------------------------- check: waivers, baseline, stdin, compare ---
Ignore = Annotated[Optional[List[str]], typer.Option("--ignore", help="Do not report findings of this rule (repeat or comma-separate: --ignore LS009,LS010); counted as waived.")]
Baseline = Annotated[Optional[Path], typer.Option("--baseline", help="Report only findings that are not in this baseline file (written by --write-baseline).")]
WriteBaseline = Annotated[Optional[Path], typer.Option("--write-baseline", help="Write the findings of this run to a baseline file (JSON, stable across runs).")]
StdinName = Annotated[Optional[str], typer.Option("--stdin-name", help="File name the manifest read from stdin ('-') is shown as (default <stdin>).")]
Compare = Annotated[Optional[str], typer.Option("--compare", help="Diff against BASE: a directory holding the same paths (a checkout of the base branch), a git revision (read from git objects, nothing checked out), or a saved check --format json report.")]
MaxMonthlyIncrease = Annotated[Optional[str], typer.Option("--max-monthly-increase", help="With --compare: fail when the total on-demand USD per month rises by more than this.")]

# ------------------------------------------------------------------------------------ runtime ---
Device = Annotated[Optional[str], typer.Option("--device", help="auto (a GPU with CuPy when present, else the CPU; default), cpu, cuda.")]
Tolerance = Annotated[Optional[str], typer.Option("--tolerance", help="Allowed error: 1/(1+F) <= measured/predicted <= 1+F (default 0.5).")]
Batches = Annotated[Optional[str], typer.Option("--batches", help="Decode batch sizes to measure (must include 1; default 1,4,16,64).")]
Steps = Annotated[Optional[str], typer.Option("--steps", help="Timed decode steps per batch size (default 8).")]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Seed of the random weights and tokens (default 0).")]
NoSave = Annotated[bool, typer.Option("--no-save", help="Do not write the calibration.")]
FromLog = Annotated[Optional[str], typer.Option("--from-log", help="vLLM (V1 or V0) or SGLang start-up log to compare with and calibrate from ('-': stdin).")]
SaveAnyway = Annotated[bool, typer.Option("--save-anyway", help="Write the calibration even when a check failed (labelled as from a failed run).")]
Repeats = Annotated[Optional[str], typer.Option("--repeats", help="Rounds of device + model measurements; each timing check reports the median round (default 3; up to 2 x N + 1 when the rounds disagree).")]
NewTokens = Annotated[Optional[str], typer.Option("--new-tokens", "-n", help="Tokens to generate (default 32).")]
# --- serving memory flags (issue 13 item 2; fit; byte rules in estimate.serving_extras) ---
KvCacheMemoryBytes = Annotated[Optional[str], typer.Option("--kv-cache-memory-bytes", help="vLLM: KV cache bytes per GPU (2G = 2 GiB, 2g = 2e9); replaces the size --gpu-memory-utilization leaves.")]
CpuOffloadGb = Annotated[Optional[str], typer.Option("--cpu-offload-gb", help="vLLM: GiB of weights per GPU held in host memory.")]
MaxLoras = Annotated[Optional[str], typer.Option("--max-loras", help="LoRA adapter slots pre-allocated per GPU (with --max-lora-rank).")]
MaxLoraRank = Annotated[Optional[str], typer.Option("--max-lora-rank", help="Maximum LoRA rank (default 16 with --max-loras).")]
EnforceEager = Annotated[bool, typer.Option("--enforce-eager", help="vLLM: no CUDA graphs (their assumed 0.5 GiB is not reserved).")]
RequireVerified = Annotated[Optional[bool], typer.Option("--require-verified/--no-require-verified", help="check: a deployment whose memory could not be checked (unknown model or GPU, a value not modelled) is an error (LS018); also 'require_verified: true' in the policy.")]
