"""The command line: parse, call one core function, render. Nothing here computes anything.

Results go to stdout; warnings, notes and errors to stderr. Every error is one line
(``llamasize: error: ...``) with the exit code of ``errors.ExitCode``; a traceback only with
``--debug`` (or ``LLAMASIZE_DEBUG=1``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from llamasize.errors import ExitCode, LlamasizeError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Deployment planner and hardware sizing calculator for Llama 4 and other dense and MoE LLMs.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# ----------------------------------------------------------------------------- shared options ---
SpecsDir = typer.Option(None, "--specs-dir", help="Extra model-spec directory (repeatable; also $LLAMASIZE_SPECS_PATH).")
CatalogDir = typer.Option(None, "--catalog-dir", help="Extra GPU-catalogue directory (repeatable; also $LLAMASIZE_CATALOG_PATH).")
Format = typer.Option("table", "--format", "-f", help="Output format: table, json or markdown.")
Debug = typer.Option(False, "--debug", help="Show a traceback on errors.")


def _registry(specs_dir, catalog_dir):
    from llamasize.registry import load_registry

    return load_registry(specs_dir or [], catalog_dir or [])


def _check_format(fmt: str, allowed=("table", "json", "markdown")) -> str:
    f = fmt.strip().lower()
    if f not in allowed:
        raise UsageError(f"unknown format '{fmt}' (choices: {', '.join(allowed)})")
    return f


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def warn(message: str) -> None:
    """One warning line on stderr."""
    sys.stderr.write(f"llamasize: warning: {message}\n")


# ----------------------------------------------------------------------------------- commands ---
@app.command("models")
def models_cmd(fmt: str = Format, specs_dir: Optional[List[Path]] = SpecsDir,
               catalog_dir: Optional[List[Path]] = CatalogDir, debug: bool = Debug) -> None:
    """List the models of the spec registry."""
    from llamasize.render import render_models

    fmt = _check_format(fmt)
    _out(render_models(_registry(specs_dir, catalog_dir).models, fmt))


@app.command("gpus")
def gpus_cmd(fmt: str = Format, specs_dir: Optional[List[Path]] = SpecsDir,
             catalog_dir: Optional[List[Path]] = CatalogDir, debug: bool = Debug) -> None:
    """List the GPUs of the catalogue."""
    from llamasize.render import render_gpus

    fmt = _check_format(fmt)
    _out(render_gpus(_registry(specs_dir, catalog_dir).gpus, fmt))


@app.command("params")
def params_cmd(model: str = typer.Argument(..., help="Model id, alias, or path to a Hugging Face config.json."),
               fmt: str = Format, specs_dir: Optional[List[Path]] = SpecsDir,
               catalog_dir: Optional[List[Path]] = CatalogDir, debug: bool = Debug) -> None:
    """Parameter breakdown of a model: per component, total and active per token."""
    from llamasize.params import count_params
    from llamasize.registry import resolve_model
    from llamasize.render import render_params

    fmt = _check_format(fmt)
    spec = resolve_model(_registry(specs_dir, catalog_dir), model)
    _out(render_params(count_params(spec), fmt))


@app.command("fit")
def fit_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Model id, alias, or path to a Hugging Face config.json."),
    gpu: str = typer.Option(..., "--gpu", "-g", help="GPU id or alias (see 'llamasize gpus')."),
    gpus: str = typer.Option("1", "--gpus", "-n", help="Number of GPUs in the deployment."),
    tp: Optional[str] = typer.Option(None, "--tp", help="Tensor-parallel size (default: --gpus / --pp)."),
    pp: str = typer.Option("1", "--pp", help="Pipeline-parallel size."),
    ep: bool = typer.Option(False, "--ep", help="Expert parallelism for MoE layers (vLLM --enable-expert-parallel)."),
    quant: str = typer.Option("bf16", "--quant", "-q", help="Weight format (fp32 bf16 fp16 fp8 fp8_mixed int4_mixed int8 int4 nf4 mxfp4 nvfp4 q8_0 q6_k q5_k_m q4_k_m q4_0 q3_k_m q2_k)."),
    kv_dtype: str = typer.Option("auto", "--kv-dtype", help="KV-cache dtype: auto, bf16, fp16, fp8."),
    ctx: str = typer.Option(..., "--ctx", "-c", help="Context length per sequence (8K = 8,192; 8k = 8,000; 1M = 1,048,576)."),
    batch: str = typer.Option("1", "--batch", "-b", help="Concurrent sequences at that context."),
    engine: str = typer.Option("vllm", "--engine", "-e", help="Serving engine: vllm, sglang, generic."),
    kv_layout: str = typer.Option("auto", "--kv-layout", help="KV layout: full (every layer full length), hybrid (windowed layers capped), auto (the engine's default)."),
    gpu_memory_utilization: Optional[str] = typer.Option(None, "--gpu-memory-utilization", help="vLLM's fraction of total GPU memory (default 0.92)."),
    mem_fraction_static: Optional[str] = typer.Option(None, "--mem-fraction-static", help="SGLang's fraction for weights + KV (default: SGLang's automatic rule)."),
    max_num_batched_tokens: Optional[str] = typer.Option(None, "--max-num-batched-tokens", help="Tokens per forward pass (activation peak; in-flight tokens of windowed layers)."),
    max_num_seqs: Optional[str] = typer.Option(None, "--max-num-seqs", help="Sequences per step (sampler peak)."),
    overhead_gib: Optional[str] = typer.Option(None, "--overhead-gib", help="Runtime overhead per GPU in GiB, replacing the engine default."),
    text_only: bool = typer.Option(False, "--text-only", help="Do not load the vision tower."),
    fmt: str = Format,
    specs_dir: Optional[List[Path]] = SpecsDir,
    catalog_dir: Optional[List[Path]] = CatalogDir,
    debug: bool = Debug,
) -> None:
    """Evaluate one deployment. Exit 0 when it fits, 3 when it does not (the report is printed either way)."""
    from llamasize.memory import Deployment, estimate_memory
    from llamasize.registry import resolve_model
    from llamasize.render import render_fit
    from llamasize.units import GIB, parse_count, parse_fraction

    fmt = _check_format(fmt)
    reg = _registry(specs_dir, catalog_dir)
    spec = resolve_model(reg, model)
    g = reg.gpu(gpu)
    n = parse_count(gpus, "--gpus", maximum=4096)
    ppn = parse_count(pp, "--pp", maximum=1024)
    tpn = parse_count(tp, "--tp", maximum=4096) if tp is not None else None
    if tpn is None:
        if n % ppn:
            raise UsageError(f"--gpus ({n}) is not divisible by --pp ({ppn})")
        tpn = n // ppn
    d = Deployment(
        model=spec, gpu=g, gpu_count=n, quant=quant, context_tokens=parse_count(ctx, "--ctx"),
        tensor_parallel_size=tpn, pipeline_parallel_size=ppn, expert_parallel=ep, kv_cache_dtype=kv_dtype,
        batch=parse_count(batch, "--batch", maximum=1_000_000), engine=engine, kv_layout=kv_layout.strip().lower(),
        gpu_memory_utilization=None if gpu_memory_utilization is None else parse_fraction(gpu_memory_utilization, "--gpu-memory-utilization"),
        mem_fraction_static=None if mem_fraction_static is None else parse_fraction(mem_fraction_static, "--mem-fraction-static"),
        max_num_batched_tokens=None if max_num_batched_tokens is None else parse_count(max_num_batched_tokens, "--max-num-batched-tokens"),
        max_num_seqs=None if max_num_seqs is None else parse_count(max_num_seqs, "--max-num-seqs", maximum=1_000_000),
        overhead_bytes=None if overhead_gib is None else int(parse_fraction(overhead_gib, "--overhead-gib", low=0, high=1024, low_inclusive=True) * GIB),
        include_vision=not text_only,
    )
    e = estimate_memory(d)
    for w in e.warnings:
        warn(w)
    _out(render_fit(e, fmt))
    raise typer.Exit(ExitCode.OK if e.fits else ExitCode.NO_FIT)


# ------------------------------------------------------------------------------------- main ----
def _debug_wanted(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("LLAMASIZE_DEBUG", "") not in ("", "0")


def _is_usage_error(e: Exception) -> bool:
    """Click's (or typer's vendored click's) UsageError family, recognised without importing click."""
    return any(cls.__name__ == "UsageError" for cls in type(e).__mro__) and hasattr(e, "format_message")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map every outcome to an exit code and at most one stderr line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    debug = _debug_wanted(argv)
    try:
        rv = command.main(args=argv, prog_name="llamasize", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except typer.Exit as e:
        code = e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("llamasize: interrupted\n")
        code = 130
    except LlamasizeError as e:
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"llamasize: error: {e}\n")
        code = e.exit_code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = ExitCode.OK
    except Exception as e:  # noqa: BLE001 - the one place that maps crashes to an exit code
        if _is_usage_error(e):
            if type(e).__name__ == "NoArgsIsHelpError" and e.ctx is not None:
                sys.stdout.write(e.ctx.get_help() + "\n")
                code = ExitCode.OK
            else:
                ctx = getattr(e, "ctx", None)
                sub = ctx.info_name if ctx is not None and ctx.parent is not None else None
                hint = f" (see 'llamasize {sub} --help')" if sub else " (see 'llamasize --help')"
                sys.stderr.write(f"llamasize: error: {e.format_message()}{hint}\n")
                code = ExitCode.USAGE
        else:
            if debug:
                import traceback

                traceback.print_exc()
            sys.stderr.write(f"llamasize: internal error: {type(e).__name__}: {e} (run with --debug for a traceback)\n")
            code = ExitCode.INTERNAL
    sys.exit(int(code))
