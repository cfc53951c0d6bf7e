"""Each memory flag of issue 13 item 2 changes what ``check`` concludes the way the engine would,
with the numbers worked out by hand here (Llama 3.1 8B: 32 layers, hidden 4096, 32 heads, 8 KV heads
of 128, MLP 14336, BF16; 70B: 80 layers, 8 KV heads). The byte rules are in
``llamasize.estimate.serving_extras``."""

from __future__ import annotations

import textwrap

import pytest

from conftest import spy_check_estimates
from llamasize.check.report import CheckOptions
from llamasize.check.run import check_paths
from llamasize.estimate.serving_extras import average_layer_bytes
from llamasize.estimate.shards import stage_weight_bytes
from llamasize.units import GIB

#: Llama 3.1 8B KV bytes per token (all layers, BF16): 32 x 2 x 8 x 128 x 2.
KV_8B_PER_TOKEN = 32 * 2 * 8 * 128 * 2


def _check(tmp_path, monkeypatch, registry, cmd: list[str], *, gpu="NVIDIA-H100-80GB-HBM3", gpus=1,
           options=CheckOptions()):
    """Check one Deployment running ``cmd``; the report and every (Deployment, estimate) made."""
    seen = spy_check_estimates(monkeypatch)
    args = ", ".join(f'"{c}"' if not c.startswith("{") else f"'{c}'" for c in cmd)
    (tmp_path / "d.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: m}}
        spec:
          template:
            spec:
              nodeSelector: {{nvidia.com/gpu.product: {gpu}}}
              containers:
              - name: vllm
                image: vllm/vllm-openai:latest
                command: [{args}]
                resources: {{limits: {{nvidia.com/gpu: {gpus}}}}}
        """))
    report = check_paths([str(tmp_path / "d.yaml")], registry, options)
    return report, seen


def _rules(report) -> set[str]:
    return {f.rule_id for f in report.findings}


def _assumptions(report) -> str:
    return " | ".join(report.deployments[0].assumptions)


SERVE_8B = ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct"]
SERVE_70B = ["vllm", "serve", "meta-llama/Llama-3.1-70B-Instruct"]


def test_kv_cache_memory_bytes_replaces_the_utilization_budget(tmp_path, monkeypatch, registry):
    """issue 13's false pass: 2 GB of KV (2g = 2e9 bytes) cannot hold a 128K context. 2e9 / 131,072
    bytes per token = 15,258.8 tokens, in 16-token blocks 953 x 16 = 15,248."""
    plain, [(_, e0)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "131072"])
    assert plain.deployments[0].status == "pass" and e0.per_gpu.kv_capacity_bytes > 50 * GIB
    report, [(d, e)] = _check(tmp_path, monkeypatch, registry,
                              SERVE_8B + ["--max-model-len", "131072", "--kv-cache-memory-bytes", "2g"])
    assert KV_8B_PER_TOKEN == 131_072 and d.kv_cache_memory_bytes == 2_000_000_000
    assert e.per_gpu.kv_capacity_bytes == 2_000_000_000
    assert e.max_context_tokens == (2_000_000_000 // KV_8B_PER_TOKEN) // 16 * 16 == 15_248
    assert "LS002" in _rules(report) and report.failed


def test_kv_cache_memory_bytes_above_the_device_is_an_error(tmp_path, monkeypatch, registry):
    """On an L4 (21.95 GiB) 8B weights take 15 GiB: 16 GiB more of KV cannot be allocated."""
    report, [(_, e)] = _check(tmp_path, monkeypatch, registry,
                              SERVE_8B + ["--max-model-len", "4096", "--kv-cache-memory-bytes", "16G"], gpu="NVIDIA-L4")
    assert e.per_gpu.kv_capacity_bytes < 16 * GIB
    assert "LS015" in _rules(report) and report.failed


def test_cpu_offload_moves_weights_off_the_gpu(tmp_path, monkeypatch, registry):
    """issue 13's false fail: 70B BF16 is 131.4 GiB; with 80 GiB offloaded 51.4 GiB stay: fits an H100."""
    plain, [(_, e0)] = _check(tmp_path, monkeypatch, registry, SERVE_70B + ["--max-model-len", "8192"])
    assert "LS001" in _rules(plain)
    report, [(d, e)] = _check(tmp_path, monkeypatch, registry,
                              SERVE_70B + ["--max-model-len", "8192", "--cpu-offload-gb", "80"])
    assert d.cpu_offload_bytes == 80 * GIB
    assert e.per_gpu.weights_bytes == e0.per_gpu.weights_bytes - 80 * GIB
    assert report.deployments[0].status == "pass" and e.fits


def test_lora_slots_are_preallocated(tmp_path, monkeypatch, registry):
    """Per layer and slot, rank r x (in + out) of qkv (4096 + 6144), o (4096 + 4096), gate_up
    (4096 + 28672) and down (14336 + 4096) = r x 69,632 elements; x 32 layers x 2 bytes. 4 slots of
    rank 64: 1,140,850,688 bytes."""
    _, [(_, e0)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192"])
    report, [(d, e)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + [
        "--max-model-len", "8192", "--enable-lora", "--max-loras", "4", "--max-lora-rank", "64",
        "--max-cpu-loras", "32"])
    assert (d.lora_slots, d.lora_rank) == (4, 64)
    per = 64 * ((4096 + 6144) + (4096 + 4096) + (4096 + 2 * 14336) + (14336 + 4096))
    assert per == 64 * 69_632 and e.per_gpu.weights_bytes - e0.per_gpu.weights_bytes == 4 * per * 32 * 2 == 1_140_850_688
    assert "--max-cpu-loras 32: adapters cached in host memory" in _assumptions(report)
    big, _ = _check(tmp_path, monkeypatch, registry, SERVE_8B + [
        "--max-model-len", "8192", "--enable-lora", "--max-loras", "64", "--max-lora-rank", "256"])
    assert "LS001" in _rules(big)  # 64 x 256 x 69,632 x 64 bytes = 68 GiB of slots: no longer fits


def test_lora_defaults_when_only_enabled(tmp_path, monkeypatch, registry):
    """vLLM's defaults: --max-loras 1, --max-lora-rank 16 (said in the assumptions)."""
    report, [(d, _)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192", "--enable-lora"])
    assert (d.lora_slots, d.lora_rank) == (1, 16) and "vLLM's defaults" in _assumptions(report)


def test_a_draft_model_adds_its_weights_and_kv(tmp_path, monkeypatch, registry):
    """70B FP8 on TP 2 drafting with 8B (BF16, TP 2): + the 8B's TP-2 shard; its 32 layers of the same
    per-layer KV (8 KV heads / 2 per GPU) join the pool: per sequence KV x (80 + 32) / 80."""
    base = SERVE_70B + ["--tensor-parallel-size", "2", "--quantization", "fp8", "--max-model-len", "16384"]
    _, [(_, e0)] = _check(tmp_path, monkeypatch, registry, base, gpus=2)
    cfg = '{"model":"meta-llama/Llama-3.1-8B-Instruct","num_speculative_tokens":5}'
    report, [(d, e)] = _check(tmp_path, monkeypatch, registry, base + ["--speculative-config", cfg], gpus=2)
    draft = registry.model("llama3.1-8b")
    assert d.draft.model.id == "llama3.1-8b"
    assert e.per_gpu.weights_bytes - e0.per_gpu.weights_bytes == sum(stage_weight_bytes(draft, "bf16", 2, 1, False, False))
    assert e.per_gpu.kv_cache_bytes * 80 == e0.per_gpu.kv_cache_bytes * (80 + 32)
    assert report.deployments[0].status == "pass"


def test_eagle_and_mtp_heads(tmp_path, monkeypatch, registry):
    """EAGLE: one decoder layer of the target's average size and one layer of KV (assumed)."""
    _, [(_, e0)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192"])
    cfg = '{"method":"eagle3","model":"yuhuili/EAGLE3-LLaMA3.1-Instruct-8B","num_speculative_tokens":3}'
    report, [(d, e)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192",
                                                                            "--speculative-config", cfg])
    spec = registry.model("llama3.1-8b")
    assert d.draft.method == "eagle" and d.draft.model is None
    assert e.per_gpu.weights_bytes - e0.per_gpu.weights_bytes == average_layer_bytes(spec, "bf16", 1, False)
    assert e.per_gpu.kv_cache_bytes * 32 == e0.per_gpu.kv_cache_bytes * 33
    ngram, [(d2, e2)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + [
        "--max-model-len", "8192", "--speculative-config", '{"method":"ngram","num_speculative_tokens":4}'])
    assert d2.draft is None and e2.per_gpu == e0.per_gpu and "no GPU memory change" in _assumptions(ngram)


def test_an_unknown_draft_model_is_said(tmp_path, monkeypatch, registry):
    report, _ = _check(tmp_path, monkeypatch, registry, SERVE_8B + [
        "--max-model-len", "8192", "--speculative-config", '{"model":"someone/tiny-draft"}'])
    assert any(f.rule_id == "LS012" and "tiny-draft" in f.message for f in report.findings)


def test_enforce_eager_frees_the_cuda_graph_reserve(tmp_path, monkeypatch, registry):
    """No CUDA graphs: the CUDA-graph pool vLLM 0.33 deducts from the KV budget (engine_report) is not reserved."""
    _, [(_, e0)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192"])
    report, [(d, e)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192", "--enforce-eager"])
    graphs = e0.engine_report.cuda_graph_bytes
    assert graphs > 0 and e.engine_report.cuda_graph_bytes == 0
    assert d.enforce_eager and e0.per_gpu.overhead_bytes - e.per_gpu.overhead_bytes == graphs
    assert e.per_gpu.kv_capacity_bytes - e0.per_gpu.kv_capacity_bytes == graphs


@pytest.mark.parametrize("flags, note", [
    (["--enable-prefix-caching"], "prefix caching: reuses blocks of the same KV pool; no memory change"),
    (["--swap-space", "16"], "--swap-space: 16 GiB of host memory per GPU"),
])
def test_flags_without_gpu_memory_change_say_so(tmp_path, monkeypatch, registry, flags, note):
    _, [(_, e0)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192"])
    report, [(_, e)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192"] + flags)
    assert e.per_gpu == e0.per_gpu and note in _assumptions(report)


def test_layout_and_scheduler_flags(tmp_path, monkeypatch, registry):
    """--data-parallel-size multiplies the GPUs; --enable-expert-parallel on a dense model is a layout
    error; --max-num-batched-tokens and --max-num-seqs size the activation peak; --kv-cache-dtype fp8 halves KV bytes;
    --quantization fp8 about halves the weights."""
    dp, _ = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192", "--data-parallel-size", "2"])
    assert "LS005" in _rules(dp)  # 1 GPU requested, 2 used
    dp2, _ = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192", "--data-parallel-size", "2"],
                    gpus=2)
    assert "LS005" not in _rules(dp2) and dp2.deployments[0].data_parallel_size == 2
    ep, _ = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192", "--enable-expert-parallel"])
    assert "LS004" in _rules(ep)
    _, [(_, small)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-num-batched-tokens", "2048"])
    _, [(_, large)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-num-batched-tokens", "16384"])
    assert large.per_gpu.activation_bytes > small.per_gpu.activation_bytes
    # the sampler's logits at --max-num-seqs dominate the peak (docs/facts/engine-memory.md item 3)
    _, [(_, few)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-num-batched-tokens", "2048",
                                                                        "--max-num-seqs", "256"])
    assert few.per_gpu.activation_bytes < small.per_gpu.activation_bytes
    _, [(_, kv8)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192", "--kv-cache-dtype", "fp8"])
    _, [(_, kv16)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192"])
    assert kv16.per_gpu.kv_cache_bytes == 2 * kv8.per_gpu.kv_cache_bytes == 8192 * KV_8B_PER_TOKEN
    _, [(_, q8)] = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192", "--quantization", "fp8"])
    assert q8.per_gpu.weights_bytes < 0.6 * kv16.per_gpu.weights_bytes


def test_unmodelled_flags_are_reported_once_by_name(tmp_path, monkeypatch, registry):
    report, _ = _check(tmp_path, monkeypatch, registry, SERVE_8B + [
        "--max-model-len", "8192", "--kv-offloading-size", "64", "--port", "8000", "--kv-offloading-size", "32",
        "--performance-mode", "throughput"])
    notes = sorted(f.message.split(": ", 1)[1].split(" ")[0] for f in report.findings if f.rule_id == "LS016")
    assert notes == ["--kv-offloading-size", "--performance-mode"]  # --port has no memory effect
    assert all(f.severity == "note" for f in report.findings if f.rule_id == "LS016")


def test_require_verified_makes_unverified_an_error(tmp_path, monkeypatch, registry):
    cmd = ["vllm", "serve", "microsoft/Phi-3-mini-4k-instruct"]
    report, _ = _check(tmp_path, monkeypatch, registry, cmd)
    assert not report.failed and report.summary.unverified == 1 and report.summary.checked == 0
    strict, _ = _check(tmp_path, monkeypatch, registry, cmd, options=CheckOptions(require_verified=True))
    assert strict.failed and any(f.rule_id == "LS018" and f.severity == "error" for f in strict.findings)
    ok, _ = _check(tmp_path, monkeypatch, registry, SERVE_8B + ["--max-model-len", "8192"],
                   options=CheckOptions(require_verified=True))
    assert not ok.failed and ok.summary.checked == 1


def test_require_verified_on_the_command_line_and_in_the_policy(tmp_path):
    from conftest import run_cli

    (tmp_path / "d.yaml").write_text(textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: m}
        spec:
          template:
            spec:
              containers:
              - name: vllm
                image: vllm/vllm-openai:latest
                args: ["--model", "microsoft/Phi-3-mini-4k-instruct"]
                resources: {limits: {nvidia.com/gpu: 1}}
        """))
    plain = run_cli("check", str(tmp_path / "d.yaml"))
    assert plain.code == 0 and "not verified 1" in plain.out
    assert run_cli("check", str(tmp_path / "d.yaml"), "--require-verified").code == 1
    (tmp_path / "p.yaml").write_text("require_verified: true\n")
    by_policy = run_cli("check", str(tmp_path / "d.yaml"), "--policy", str(tmp_path / "p.yaml"))
    assert by_policy.code == 1 and "LS018" in by_policy.out
    assert run_cli("check", str(tmp_path / "d.yaml"), "--policy", str(tmp_path / "p.yaml"),
                   "--no-require-verified").code == 0
