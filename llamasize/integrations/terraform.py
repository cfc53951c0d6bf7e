"""Terraform integration: the ``external`` data-source protocol and the typed tfvars object.

Terraform's ``external`` provider (docs/facts/integrations.md 1.1) runs a program without a shell,
writes the ``query`` map to its stdin as a JSON object whose values are all strings, and reads
stdout with ``json.Unmarshal`` into ``map[string]string``: any number, bool, null or nested value in
the output is an error. On failure the program must exit non-zero with a one-line message on
stderr (stdout is ignored). ``parse_query`` validates the input that strictly, and
``external_result`` flattens a plan into string values only, with the whole plan JSON as one string
under ``plan_json`` (``jsondecode(data.external.NAME.result.plan_json)`` in HCL).

The ``*.auto.tfvars.json`` route (``llamasize plan --format tfvars``) keeps native JSON types;
``TfvarsOutput`` is its schema.
"""

from __future__ import annotations

import difflib
import json

from pydantic import BaseModel, ConfigDict

from llamasize import SCHEMA_VERSION
from llamasize.data.hardware import GpuSpec
from llamasize.data.spec import ModelSpec
from llamasize.errors import UsageError
from llamasize.integrations.launch import checkpoint, serve_command
from llamasize.plan.results import PlanResult
from llamasize.text import quote_value

#: The query keys: ``llamasize plan``'s flag names in snake_case.
QUERY_KEYS = (
    "model", "quant", "ctx", "batch", "gpu", "exclude_gpu", "max_gpus", "max_nodes", "budget", "engine",
    "kv_layout", "kv_dtype", "headroom", "objective", "mau", "gpu_memory_utilization", "mem_fraction_static",
    "text_only", "layouts", "alternatives", "prompt_tokens", "output_tokens", "price", "calibration", "workload",
    "specs_dir", "catalog_dir", "engine_version", "hybrid_kv_cache", "kv_cache_free_gpu_mem_fraction",
)
#: Query keys that are booleans ("true"/"false", as Terraform's tostring() writes them).
BOOL_KEYS = ("text_only",)
#: Largest query accepted on stdin.
MAX_QUERY_BYTES = 1_000_000


class TerraformExternalResult(BaseModel):
    """The stdout of ``llamasize terraform-external``: every value a string (Terraform's contract).
    Numbers are decimal strings, booleans ``"true"``/``"false"``, unknown values ``""``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: str
    model: str
    model_name: str
    hf_model: str
    gpu_type: str
    gpu_name: str
    gpu_count: str
    nodes: str
    gpus_per_node: str
    tensor_parallel_size: str
    pipeline_parallel_size: str
    expert_parallel: str
    quant: str
    kv_cache_dtype: str
    kv_layout: str
    engine: str
    max_model_len: str
    max_context_tokens: str
    max_concurrency: str
    headroom_fraction: str
    price_usd_per_hour: str
    #: The vLLM launch command of the recommendation ("" when the plan is for another engine, or
    #: vLLM cannot serve the format).
    vllm_command: str
    #: The launch command of the plan's ``engine`` (vLLM or SGLang; "" when it cannot serve the format).
    serve_command: str
    #: "" when ``hf_model`` holds the planned format; else what to do (quantize it first).
    checkpoint_note: str
    #: The whole ``llamasize plan --format json`` document, compact, as one string.
    plan_json: str


class TfvarsOutput(BaseModel):
    """``llamasize plan --format tfvars``: typed values for a ``*.auto.tfvars.json`` file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    llamasize_model: str
    hf_model: str | None
    gpu_type: str
    gpu_count: int
    nodes: int
    gpus_per_node: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    expert_parallel: bool
    quant: str
    kv_cache_dtype: str
    kv_layout: str
    max_model_len: int
    engine: str
    price_usd_per_hour: float | None


def parse_query(text: str) -> dict[str, str]:
    """The query object Terraform writes to stdin -> ``{key: value}`` (empty values dropped, as
    Terraform >= 2.3.2 drops nulls). UsageError, one line, for anything else."""
    if len(text) > MAX_QUERY_BYTES:
        raise UsageError(f"the query on stdin is larger than {MAX_QUERY_BYTES:,} bytes")
    if not text.strip():
        raise UsageError("no query on stdin: expected a JSON object such as "
                         '{"model":"maverick","quant":"int4","ctx":"1M"} (Terraform\'s external data source sends one)')
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"the query on stdin is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except (ValueError, RecursionError) as e:  # nested too deep, or a number of more than 4,300 digits
        raise UsageError(f"the query on stdin is not valid JSON: {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(data, dict):
        raise UsageError(f"the query on stdin must be a JSON object of strings, got a JSON {_json_type(data)}")
    out: dict[str, str] = {}
    for key in sorted(data):
        value = data[key]
        if key not in QUERY_KEYS:
            close = difflib.get_close_matches(key, QUERY_KEYS, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UsageError(f"unknown query key {quote_value(key)}{hint} (keys: {', '.join(QUERY_KEYS)})")
        if not isinstance(value, str):
            raise UsageError(f"query value of {quote_value(key)} must be a string (Terraform sends strings; use tostring()), "
                             f"got a JSON {_json_type(value)}")
        if value.strip() == "":
            continue
        if key in BOOL_KEYS and value.strip().lower() not in ("true", "false"):
            raise UsageError(f"query value of {quote_value(key)} must be \"true\" or \"false\", got {quote_value(value)}")
        out[key] = value.strip()
    if "model" not in out and "workload" not in out:
        raise UsageError("the query needs 'model' (e.g. {\"model\":\"maverick\",\"quant\":\"int4\",\"ctx\":\"1M\"})")
    return out


def _json_type(v) -> str:
    """The JSON type name of a decoded value, for error messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "string"


def _s(v) -> str:
    """A value as Terraform's string map wants it: decimal numbers, "true"/"false", "" for None."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = repr(v)
        if "e" in text or "E" in text:
            text = f"{v:.12f}".rstrip("0").rstrip(".")
        return text
    return str(v)


def tfvars(res: PlanResult) -> TfvarsOutput:
    """The flat, typed object of ``plan --format tfvars`` (a ``*.auto.tfvars.json`` file) for a plan
    with a recommendation."""
    o = res.recommendation
    if o is None:
        raise UsageError("nothing fits: no recommendation to write as Terraform variables")
    return TfvarsOutput(
        llamasize_model=res.model,
        hf_model=res.hf_model,
        gpu_type=o.gpu,
        gpu_count=o.gpu_count,
        nodes=o.nodes,
        gpus_per_node=-(-o.gpu_count // o.nodes),
        tensor_parallel_size=o.tensor_parallel_size,
        pipeline_parallel_size=o.pipeline_parallel_size,
        expert_parallel=o.expert_parallel,
        quant=o.quant,
        kv_cache_dtype=o.kv_cache_dtype,
        kv_layout=o.kv_layout,
        max_model_len=res.request.context_tokens,
        engine=o.engine,
        price_usd_per_hour=o.price_usd_per_hour,
    )


def external_result(res: PlanResult, spec: ModelSpec, gpu: GpuSpec, *, gpu_memory_utilization: float | None = None,
                    mem_fraction_static: float | None = None) -> TerraformExternalResult:
    """Flatten a plan with a recommendation into the string map Terraform reads. The launch command
    is the plan's engine's (``serve_command``: vLLM or SGLang, sized with the same memory rules), on
    the checkpoint that holds the planned format (``launch.checkpoint``)."""
    o = res.recommendation
    if o is None:
        raise UsageError("nothing fits: no recommendation to return")
    tv = tfvars(res)
    cmd = ""
    try:
        cmd = serve_command(o.engine, spec, gpu, tp=o.tensor_parallel_size,
                            pp=o.pipeline_parallel_size, ep=o.expert_parallel, quant=o.quant,
                            kv_cache_dtype=o.kv_cache_dtype, max_model_len=tv.max_model_len, nodes=o.nodes,
                            kv_layout=o.kv_layout, gpu_memory_utilization=gpu_memory_utilization,
                            mem_fraction_static=mem_fraction_static, dp=o.data_parallel_size).text()
    except UsageError:
        pass
    ck = checkpoint(spec, o.quant)
    plan_json = json.dumps(res.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)
    return TerraformExternalResult(
        schema_version=SCHEMA_VERSION, model=res.model, model_name=res.model_name, hf_model=_s(res.hf_model),
        gpu_type=o.gpu, gpu_name=o.gpu_name, gpu_count=_s(o.gpu_count), nodes=_s(o.nodes),
        gpus_per_node=_s(tv.gpus_per_node), tensor_parallel_size=_s(o.tensor_parallel_size),
        pipeline_parallel_size=_s(o.pipeline_parallel_size), expert_parallel=_s(o.expert_parallel), quant=o.quant,
        kv_cache_dtype=o.kv_cache_dtype, kv_layout=o.kv_layout, engine=o.engine,
        max_model_len=_s(tv.max_model_len), max_context_tokens=_s(o.max_context_tokens),
        max_concurrency=_s(o.max_concurrency), headroom_fraction=_s(o.headroom_fraction),
        price_usd_per_hour=_s(o.price_usd_per_hour), vllm_command=cmd if o.engine == "vllm" else "",
        serve_command=cmd, checkpoint_note=ck.note if ck.kind == "quantize-first" else "", plan_json=plan_json,
    )
