"""The start-up log parser (``data.enginelog``) on the calibration logs' lines.

The memory lines are quoted verbatim from docs/facts/engine-memory.md (vLLM 0.19.0 logs of
llm-d-incubation/llm-d-planner @d3121e05, rows named per case) and docs/facts/hardware-memory.md 1a; the
config / argument lines around them are in vLLM's wording (tests/data/logs/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llamasize.data.enginelog import NoEngineLines, clean_lines, parse_dict, parse_engine_log, parse_pairs, split_top_level

LOGS = Path(__file__).parent / "data" / "logs"
GIB = 2**30

#: docs/facts/engine-memory.md, the "key log line" column, verbatim.
ROW1 = ("torch peak memory increase: 1.89GiB; non-torch forward increase memory: 0.25GiB; weights memory: 14.99GiB",
        "Available KV cache memory: 58.11 GiB", "GPU KV cache size: 476,016 tokens")
ROW3 = ("torch peak memory increase: 1.89GiB; non-torch forward increase memory: 2.07GiB; weights memory: 7.51GiB",
        "Available KV cache memory: 63.76 GiB", "GPU KV cache size: 1,044,688 tokens")
ROW7 = ("torch peak memory increase: 1.89GiB; non-torch forward increase memory: 0.25GiB; weights memory: 14.99GiB",
        "Available KV cache memory: 58.11 GiB", "GPU KV cache size: 952,032 tokens")
ROW10 = ("torch peak memory increase: 1.96GiB; non-torch forward increase memory: 2.1GiB; weights memory: 33.88GiB",
         "Available KV cache memory: 37.28 GiB", "GPU KV cache size: 244,304 tokens")
#: docs/facts/hardware-memory.md 1a, verbatim.
SNAPSHOT = "worker init memory snapshot: torch_peak=0.0GiB, free_memory=78.68GiB, total_memory=79.19GiB"


def _gib(v: float) -> int:
    return round(v * GIB)


@pytest.mark.parametrize("name, quoted", [
    ("vllm-0.19.0-llama31-8b-tp1.log", ROW1), ("vllm-0.19.0-llama31-8b-tp2.log", ROW3),
    ("vllm-0.19.0-llama31-8b-kvfp8.log", ROW7), ("vllm-0.19.0-llama33-70b-fp8dyn-tp2.log", ROW10),
])
def test_fixture_logs_carry_the_verbatim_lines(name, quoted):
    text = "\n".join(clean_lines((LOGS / name).read_text()))
    for line in (*quoted, SNAPSHOT):
        assert line in text, (name, line)


@pytest.mark.parametrize("name, expect", [
    # facts row 1: Llama 3.1 8B, TP1, util 0.95
    ("vllm-0.19.0-llama31-8b-tp1.log", dict(tp=1, weights=14.99, act=1.89, non_torch=0.25, kv=58.11, tokens=476_016,
                                             conc=58.11, kv_dtype="auto", graph=0.91)),
    # row 3: TP2 (two workers, ANSI colours, CRLF)
    ("vllm-0.19.0-llama31-8b-tp2.log", dict(tp=2, weights=7.51, act=1.89, non_torch=2.07, kv=63.76, tokens=1_044_688,
                                             conc=127.53, kv_dtype="auto", graph=None)),
    # row 7: FP8 KV: same GiB, twice the tokens
    ("vllm-0.19.0-llama31-8b-kvfp8.log", dict(tp=1, weights=14.99, act=1.89, non_torch=0.25, kv=58.11, tokens=952_032,
                                               conc=116.21, kv_dtype="fp8", graph=None)),
    # row 10: RedHatAI Llama 3.3 70B FP8 dynamic at TP2
    ("vllm-0.19.0-llama33-70b-fp8dyn-tp2.log", dict(tp=2, weights=33.88, act=1.96, non_torch=2.1, kv=37.28,
                                                     tokens=244_304, conc=29.82, kv_dtype="auto", graph=None)),
])
def test_vllm_v1_logs(name, expect):
    log = parse_engine_log((LOGS / name).read_text())
    assert (log.engine, log.generation, log.version) == ("vllm", "v1", "0.19.0")
    assert log.tensor_parallel_size == expect["tp"] and log.pipeline_parallel_size == 1
    assert log.gpu_memory_utilization == 0.95 and log.max_model_len == 8192
    assert log.dtype == "bfloat16" and log.kv_cache_dtype == expect["kv_dtype"]
    assert log.device_total_bytes == _gib(79.19)
    assert log.weights_bytes == _gib(expect["weights"])
    assert log.activation_peak_bytes == _gib(expect["act"])
    assert log.non_torch_bytes == _gib(expect["non_torch"])
    assert log.available_kv_bytes == _gib(expect["kv"])
    assert log.kv_cache_tokens == expect["tokens"]
    assert (log.concurrency_tokens, log.max_concurrency) == (8192, expect["conc"])
    assert log.cuda_graph_bytes == (None if expect["graph"] is None else _gib(expect["graph"]))
    # every figure points at its line, and that line carries the figure
    lines = clean_lines((LOGS / name).read_text())
    assert "Available KV cache memory" in lines[log.lines["available_kv_bytes"] - 1]


def test_fp8_dynamic_checkpoint_names_its_method():
    log = parse_engine_log((LOGS / "vllm-0.19.0-llama33-70b-fp8dyn-tp2.log").read_text())
    assert log.model == "RedHatAI/Llama-3.3-70B-Instruct-fp8-dynamic" and log.quantization == "compressed-tensors"


def test_rank0_line_wins_over_an_earlier_rank1_line():
    """In the TP2 fixture rank 1 prints its profiling line first; rank 0's is used, and said once
    (identical figures: no note of disagreement)."""
    log = parse_engine_log((LOGS / "vllm-0.19.0-llama31-8b-tp2.log").read_text())
    lines = clean_lines((LOGS / "vllm-0.19.0-llama31-8b-tp2.log").read_text())
    assert "Worker_TP0" in lines[log.lines["weights_bytes"] - 1]
    assert len(log.notes) == 1 and "several ranks" in log.notes[0]
    assert parse_engine_log((LOGS / "vllm-0.19.0-llama31-8b-tp1.log").read_text()).notes == ()


def test_ranks_that_disagree_are_noted_and_rank0_is_taken():
    text = ("(Worker_TP1 pid=2) INFO [gpu_worker.py:340] Available KV cache memory: 60.00 GiB\n"
            "(Worker_TP0 pid=1) INFO [gpu_worker.py:340] Available KV cache memory: 63.76 GiB\n")
    log = parse_engine_log(text)
    assert log.available_kv_bytes == _gib(63.76)
    assert len(log.notes) == 2 and "rank 0" in log.notes[1] and "line 2" in log.notes[1]


def test_pp_tags_count_as_ranks():
    text = ("(Worker_PP1_TP0 pid=2) INFO weights memory: 3.00GiB\n"
            "(Worker_PP0_TP0 pid=1) INFO weights memory: 4.26GiB\n")
    assert parse_engine_log(text).weights_bytes == _gib(4.26)


def test_windows_line_ends_and_ansi_codes_are_removed():
    raw = (LOGS / "vllm-0.19.0-llama31-8b-tp2.log").read_bytes()
    assert b"\r\n" in raw and b"\x1b[" in raw  # the fixture really has both
    assert all("\r" not in line and "\x1b" not in line for line in clean_lines(raw.decode()))


def test_v0_log():
    """vLLM 0.6 line shapes (synthetic figures: tests/data/logs/README.md)."""
    log = parse_engine_log((LOGS / "vllm-0.6.3-v0-synthetic.log").read_text())
    assert (log.engine, log.generation, log.version) == ("vllm", "v0", "0.6.3")
    assert log.device_total_bytes == _gib(79.22) and log.gpu_memory_utilization == 0.9
    assert log.weights_bytes == _gib(14.99)  # "model weights take", preferred to "Loading model weights took"
    assert log.non_torch_bytes == _gib(1.79) and log.activation_peak_bytes == _gib(1.20)
    assert log.available_kv_bytes == _gib(53.32)
    assert log.kv_cache_tokens == 27299 * 16  # "# GPU blocks" x block_size 16 (logged in the args)
    assert log.max_num_seqs == 256 and log.block_size == 16
    assert log.dtype == "bfloat16"  # the args' dtype='auto' does not override the config line's torch.bfloat16


def test_sglang_log():
    """SGLang line shapes (synthetic figures): K + V sizes are the available KV, its "GB" are GiB."""
    log = parse_engine_log((LOGS / "sglang-synthetic.log").read_text())
    assert log.engine == "sglang" and log.generation is None
    assert log.model == "meta-llama/Llama-3.1-8B-Instruct" and log.tensor_parallel_size == 1
    assert log.mem_fraction_static == 0.88 and log.max_model_len == 8192 and log.max_num_batched_tokens == 8192
    assert log.weights_bytes == _gib(15.03) and log.cuda_graph_bytes == _gib(0.46)
    assert log.available_kv_bytes == _gib(25.21) * 2 and log.kv_cache_tokens == 413_116
    assert log.device_total_bytes is None and log.gpu_memory_utilization is None


def test_sglang_without_server_args_is_recognised_by_its_wording():
    log = parse_engine_log("[2025 TP0] KV Cache is allocated. #tokens: 1000, K size: 1.00 GB, V size: 1.00 GB\n")
    assert log.engine == "sglang" and log.available_kv_bytes == 2 * GIB and log.kv_cache_tokens == 1000


@pytest.mark.parametrize("text", ["", "hello\nworld\n", "INFO 04-22 [api.py:1] Starting server\n"])
def test_no_engine_lines(text):
    with pytest.raises(NoEngineLines):
        parse_engine_log(text)


def test_settings_parsers():
    assert split_top_level("a=1, b='x, y', c={'k': [1, 2]}") == ["a=1", "b='x, y'", "c={'k': [1, 2]}"]
    assert parse_pairs("model='m', tensor_parallel_size=2, quantization=None") == {
        "model": "m", "tensor_parallel_size": "2", "quantization": "None"}
    assert parse_dict("{'model': 'm', 'gpu_memory_utilization': 0.95}") == {"model": "m", "gpu_memory_utilization": "0.95"}
    # not a literal (an object repr inside): read key by key
    assert parse_dict("{'model': 'm', 'x': <Obj at 0x1>, 'max_num_seqs': 64}")["max_num_seqs"] == "64"


def test_implausible_figures_are_ignored_with_a_note():
    log = parse_engine_log("Available KV cache memory: 99999999999999999999999 GiB\nweights memory: 1.00GiB\n"
                           "# GPU blocks: 99999999999999999999999, # CPU blocks: 1\n")
    assert log.available_kv_bytes is None and log.kv_cache_tokens is None and log.weights_bytes == GIB
    assert any("not a plausible figure" in n for n in log.notes)
