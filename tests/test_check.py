"""check: every manifest shape passing and failing with the right file, line and rule; flag,
model and GPU extraction; policies; output formats; exit codes; malformed input as a new user
would try it; determinism and speed."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from llamasize.check.flags import parse_flags
from llamasize.check.report import CheckOptions, PolicyLimits
from llamasize.check.resolve import CatalogIndex as _Index
from llamasize.check.rules import RULES
from llamasize.check.run import check_paths
from llamasize.check.shell import script_segments
from llamasize.check.yamltree import parse_documents
from llamasize.check.formats import escape_data, escape_property, github_annotation, render_check, rules_markdown

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = REPO / "examples" / "manifests"
PASSING = sorted((MANIFESTS / "passing").glob("*.yaml"))
FAILING = sorted((MANIFESTS / "failing").glob("*.yaml"))
SHAPES = {"deployment-vllm-serve.yaml", "statefulset-api-server.yaml", "pod-sglang.yaml", "leaderworkerset.yaml",
          "inferenceservice.yaml", "llminferenceservice.yaml", "helm-values.yaml", "llamasize.yaml"}
EXPECT = re.compile(r"#\s*expect:\s*((?:LS\d{3}\s*)+)")


def run(paths, **kw):
    """check_paths with paths shown relative to the repository."""
    return check_paths([str(p) for p in paths], _registry(), CheckOptions(cwd=REPO, **kw))


def _registry():
    from llamasize.data.registry import load_registry

    return load_registry()


def expected(path: Path) -> set[tuple[int, str]]:
    """``(line, rule)`` pairs marked ``# expect: LS...`` in a manifest."""
    out = set()
    for i, line in enumerate(path.read_text().splitlines(), 1):
        m = EXPECT.search(line)
        if m:
            out |= {(i, r) for r in m.group(1).split()}
    return out


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


# ---------------------------------------------------------------------- every shape, both ways ---
def test_every_shape_has_a_passing_and_a_failing_example():
    assert {p.name for p in PASSING} == SHAPES
    assert {p.name for p in FAILING} == SHAPES


@pytest.mark.parametrize("path", PASSING, ids=lambda p: p.name)
def test_passing_manifest(path, monkeypatch):
    monkeypatch.chdir(REPO)
    r = run([path.relative_to(REPO)])
    assert r.deployments, "no deployment found"
    assert not r.failed
    assert [f for f in r.findings if f.severity != "note"] == []
    for d in r.deployments:
        assert d.status == "pass" and d.fits is True, d
        assert d.file == rel(path)
        assert d.model and d.gpus and d.gpu_count
    assert expected(path) == set()


@pytest.mark.parametrize("path", FAILING, ids=lambda p: p.name)
def test_failing_manifest_points_at_the_marked_lines(path, monkeypatch):
    monkeypatch.chdir(REPO)
    r = run([path.relative_to(REPO)])
    assert r.deployments
    got = {(f.line, f.rule_id) for f in r.findings if f.severity in ("error", "warning")}
    assert got == expected(path), "\n".join(f"{f.line} {f.rule_id} {f.message}" for f in r.findings)
    assert {f.file for f in r.findings} == {rel(path)}
    assert any(d.status == "fail" for d in r.deployments)
    assert r.failed


def test_failing_verdicts_and_numbers(monkeypatch):
    monkeypatch.chdir(REPO)
    r = run([MANIFESTS.relative_to(REPO) / "failing"])
    by_id = {d.id: d for d in r.deployments}
    assert by_id["InferenceService/llama70b-isvc"].fits is False
    assert by_id["Pod/llama70b-sglang-small"].engine == "sglang"
    assert by_id["Pod/llama70b-sglang-small"].fits is False
    lws = by_id["LeaderWorkerSet/llama405b-short"]
    assert (lws.gpu_count, lws.tensor_parallel_size, lws.pipeline_parallel_size) == (12, 8, 2)
    helm = by_id["modelSpec/llama8b-l4"]
    assert helm.context_tokens == 131072  # extraArgs (the last occurrence) wins over maxModelLen 8192
    msgs = {f.rule_id: f.message for f in r.findings}
    assert "GiB" in msgs["LS001"] and "available" in msgs["LS001"]
    assert "max context at this batch" in msgs["LS002"]
    assert "num_attention_heads (40) is not divisible by tensor_parallel_size (3)" in msgs["LS004"]
    maverick = by_id["Deployment/maverick-tp3"]
    assert maverick.quant == "fp8_experts" and maverick.replicas == 2  # the -FP8 checkpoint's own layout


def test_passing_numbers(monkeypatch):
    monkeypatch.chdir(REPO)
    r = run([MANIFESTS.relative_to(REPO) / "passing"])
    by_id = {d.id: d for d in r.deployments}
    lws = by_id["LeaderWorkerSet/llama405b"]
    assert (lws.gpu_count, lws.tensor_parallel_size, lws.pipeline_parallel_size, lws.gpus) == (16, 8, 2, ["h100-sxm"])
    assert by_id["InferenceService/llama8b-isvc"].model == "llama3.1-8b"  # s3://.../models/org--name
    assert by_id["LLMInferenceService/scout-llmisvc"].context_tokens == 262144
    assert by_id["StatefulSet/llama8b"].context_tokens == 65536  # --max_model_len inside sh -c
    assert by_id["llamasize/scout-chat"].batch == 4
    assert by_id["Deployment/scout-vllm"].line == 17


# ------------------------------------------------------------------------------- extraction ---
def toks(*words, line=1):
    return [(w, line) for w in words]


def test_flag_spellings_and_last_occurrence_wins():
    inv = parse_flags(toks("meta-llama/X", "--tensor_parallel_size=2", "--max-model-len", "8K", "-tp", "4",
                           "--enforce-eager", "--port", "8000", "--max_model_len=16k"), "vllm", True)
    assert inv.model.value == "meta-llama/X"
    assert inv.flags["tp"].value == "4"
    assert inv.flags["max_model_len"].value == "16k"
    inv = parse_flags(toks("--enable-expert-parallel", "--model", "org/m", "--no-enable-expert-parallel"),
                      "vllm", False)
    assert inv.flags["ep"].value is False and inv.model.value == "org/m"
    inv = parse_flags(toks("--enforce-eager", "org/model", "--kv_cache_dtype", "fp8_e5m2"), "vllm", True)
    assert inv.model.value == "org/model" and inv.flags["kv_cache_dtype"].value == "fp8_e5m2"


def test_shell_script_segments_and_lines():
    script = "set -e\necho 'a; b' && \\\n  vllm serve org/m \\\n    --max-model-len 4096 ; echo done\n"
    segs = script_segments(script, 10, "|")
    words = [[w for w, _ in s] for s in segs]
    assert words == [["set", "-e"], ["echo", "a; b"], ["vllm", "serve", "org/m", "--max-model-len", "4096"],
                     ["echo", "done"]]
    lines = dict(segs[2])
    assert lines["vllm"] == 13 and lines["--max-model-len"] == 14  # `|` on line 10, content from 11
    # an unterminated quote runs to the end of the script (the commands before it are kept)
    assert script_segments("unbalanced 'quote --x 1", 5, None) == [[("unbalanced", 5), ("quote --x 1", 5)]]
    assert script_segments("vllm serve m\necho 'open", 5, None)[0] == [("vllm", 5), ("serve", 5), ("m", 5)]


@pytest.mark.parametrize("ref,model", [
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama4-scout"),
    ("hf://meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama4-scout"),
    ("https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/", "llama3.1-8b"),
    ("s3://bucket/team/models/meta-llama--Meta-Llama-3.1-8B-Instruct", "llama3.1-8b"),
    ("/models/models--meta-llama--Llama-3.1-70B-Instruct", "llama3.1-70b"),
    ("/mnt/models/meta-llama/Llama-3.1-70B-Instruct", "llama3.1-70b"),
    ("pvc://weights/Llama-4-Maverick-17B-128E-Instruct-FP8", "llama4-maverick"),
    ("meta-llama/llama-3.1-8b-instruct", "llama3.1-8b"),
    ("example-org/Some-Model-7B", None),
    ("scout", None),  # aliases are llamasize's, not Hugging Face names: not guessed
    ("", None),
])
def test_model_references(registry, ref, model):
    spec, _ = _Index(registry).model(ref)
    assert (spec.id if spec else None) == model


@pytest.mark.parametrize("kind,value,gpu", [
    ("gpu.product", "NVIDIA-H100-80GB-HBM3", "h100-sxm"),
    ("gpu.product", "NVIDIA-A100-80GB-PCIe", "a100-pcie-80gb"),
    ("instance-type", "p5.48xlarge", "h100-sxm"),
    ("instance-type", "p5en.48xlarge", "h200"),
    ("gke-accelerator", "nvidia-l4", "l4"),
    ("gpu.product", "h100", None),  # a llamasize alias is not a node label
    ("instance-type", "g5.8xlarge", "a10g"),  # AWS g5: A10G (docs/facts/hardware-memory.md 3.1)
    ("instance-type", "g5.9xlarge", None),  # no such instance type
    ("instance-type", "Standard_ND96isr_H100_v5", "h100-sxm"),  # Azure ND H100 v5
    ("gke-accelerator", "nvidia-tesla-t4", "t4"),
    ("karpenter-gpu-name", "l40s", "l40s"),
    ("gpu.product", "Tesla-T4-SHARED", "t4"),  # GFD time-slicing suffix
    ("gpu.product", "A100-SXM4-40GB", "a100-sxm-40gb"),  # older drivers: no NVIDIA- prefix
    ("gpu.product", "A100-PCIE-40GB", "a100-pcie-40gb"),
])
def test_gpu_labels(registry, kind, value, gpu):
    gs = _Index(registry).gpu(kind, value)
    assert [g.id for g in gs] == ([gpu] if gpu else [])


def test_karpenter_a100_is_either_a100():
    # Karpenter's instance-gpu-name does not carry the memory size: p4d (40 GB) and p4de (80 GB) are both
    # 'a100' (docs/facts/hardware-memory.md 3.1), so both are candidates
    from llamasize.data.registry import load_registry

    gs = _Index(load_registry()).gpu("karpenter-gpu-name", "a100")
    assert sorted(g.id for g in gs) == ["a100-sxm-40gb", "a100-sxm-80gb"]


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: x}}
spec:
  template:
    spec:
      nodeSelector: {{nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}}
      containers:
        - name: vllm
          image: vllm/vllm-openai:latest
{body}
"""


def test_image_entrypoint_env_substitution_and_unresolved_variables(tmp_path):
    p = write(tmp_path, "a.yaml", DEPLOYMENT.format(body="""          env:
            - {name: TP, value: "2"}
          args: ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--tensor-parallel-size", "$(TP)",
                 "--max-model-len", "$(CTX)"]
          resources: {limits: {nvidia.com/gpu: 2}}"""))
    r = check_paths([p], _registry(), CheckOptions())
    d = r.deployments[0]
    assert d.tensor_parallel_size == 2 and d.gpu_count == 2
    assert [(f.rule_id, f.line) for f in r.findings] == [("LS012", 14)]


def test_multi_document_and_list_kind_and_other_documents_ignored(tmp_path):
    body = """          command: ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8K"]
          resources: {limits: {nvidia.com/gpu: 1}}"""
    one = DEPLOYMENT.format(body=body)
    text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n" + one + "---\n" + \
        "apiVersion: v1\nkind: List\nitems:\n" + "\n".join("  " + line if i else "- " + line
                                                          for i, line in enumerate(one.splitlines()))
    p = write(tmp_path, "multi.yaml", text)
    r = check_paths([p], _registry(), CheckOptions())
    assert [d.status for d in r.deployments] == ["pass", "pass"]
    assert r.deployments[0].line < r.deployments[1].line


def test_gpu_type_not_pinned_and_default_gpu(tmp_path):
    p = write(tmp_path, "a.yaml", DEPLOYMENT.replace("      nodeSelector: {{nvidia.com/gpu.product: "
                                                      "NVIDIA-H100-80GB-HBM3}}\n", "").format(
        body="""          command: ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8K"]
          resources: {limits: {nvidia.com/gpu: 1}}"""))
    r = check_paths([p], _registry(), CheckOptions())
    assert [f.rule_id for f in r.findings] == ["LS010"] and not r.failed
    r = check_paths([p], _registry(), CheckOptions(strict=True))
    assert r.findings[0].severity == "error" and r.failed
    r = check_paths([p], _registry(), CheckOptions(default_gpu="l40s"))
    assert r.findings == [] and r.deployments[0].gpus == ["l40s"]


def test_several_gpu_types_are_each_checked(tmp_path):
    p = write(tmp_path, "a.yaml", DEPLOYMENT.replace(
        "nodeSelector: {{nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}}",
        "affinity: {{nodeAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: {{nodeSelectorTerms: "
        "[{{matchExpressions: [{{key: nvidia.com/gpu.product, operator: In, values: [NVIDIA-H100-80GB-HBM3, "
        "NVIDIA-L4]}}]}}]}}}}}}").format(
        body="""          command: ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "64K"]
          resources: {limits: {nvidia.com/gpu: 1}}"""))
    r = check_paths([p], _registry(), CheckOptions())
    assert r.deployments[0].gpus == ["h100-sxm", "l4"]
    assert [(f.rule_id, "l4" in f.message) for f in r.findings] == [("LS002", True)]


def test_policy_headroom_budget_and_price_unknown(tmp_path):
    p = write(tmp_path, "a.yaml", DEPLOYMENT.format(
        body="""          command: ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8K"]
          resources: {limits: {nvidia.com/gpu: 1}}"""))
    r = check_paths([p], _registry(), CheckOptions(policy=PolicyLimits(max_usd_per_hour=1.0, min_headroom=0.9)))
    assert sorted(f.rule_id for f in r.findings) == ["LS007", "LS008"]
    assert {f.line for f in r.findings} == {9, 12}  # the container, the GPU limit
    l4 = write(tmp_path, "b.yaml", DEPLOYMENT.replace("NVIDIA-H100-80GB-HBM3", "NVIDIA-L4").format(
        body="""          command: ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8K"]
          resources: {limits: {nvidia.com/gpu: 1}}"""))
    r = check_paths([l4], _registry(), CheckOptions(policy=PolicyLimits(max_usd_per_hour=1.0)))
    assert [f.rule_id for f in r.findings] == ["LS014"]


def test_llamasize_yaml_schema_errors_point_at_the_key(tmp_path):
    p = write(tmp_path, "llamasize.yaml", "deployments:\n  - model: scout\n    gpu: h100\n    ctx: 8K\n"
                                          "    quant: int4_mixed\n    colour: blue\n")
    r = check_paths([p], _registry(), CheckOptions())
    assert [(f.rule_id, f.line) for f in r.findings] == [("LS013", 6)]
    assert "colour: unknown key" in r.findings[0].message
    short = write(tmp_path, "one.llamasize.yaml", "model: scout\ngpu: h100\nquant: int4_mixed\nctx: 8K\n")
    r = check_paths([short], _registry(), CheckOptions())
    assert r.findings == [] and r.deployments[0].name == "one.llamasize"
    bad = write(tmp_path, "llamasize.yml", "model: scout\ngpu: h100\nquant: int5\nctx: 8K\n")
    r = check_paths([bad], _registry(), CheckOptions())
    assert [(f.rule_id, f.line) for f in r.findings] == [("LS013", 3)] and "int4" in r.findings[0].message


# ----------------------------------------------------------------------------------- formats ---
@pytest.fixture(scope="module")
def failing_report():
    import os

    old = os.getcwd()
    os.chdir(REPO)
    try:
        return check_paths(["examples/manifests/failing"], _registry(), CheckOptions(cwd=REPO))
    finally:
        os.chdir(old)


def test_github_escaping():
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"
    from llamasize.check.report import Finding

    f = Finding(file="dir,x/a:b.yaml", line=3, rule_id="LS001", rule_name="does-not-fit", severity="error",
                message="50% of it: a, b\nsecond line")
    line = github_annotation(f)
    assert line == ("::error file=dir%2Cx/a%3Ab.yaml,line=3,title=LS001 does-not-fit::"
                    "50%25 of it: a, b%0Asecond line")
    assert "\n" not in line


def test_github_format(failing_report):
    out = render_check(failing_report, "github")
    lines = out.splitlines()
    pattern = re.compile(r"^::(error|warning|notice) file=[^,:]+,line=\d+,title=LS\d{3} [a-z0-9-]+::.+$")
    annotations = [ln for ln in lines if ln.startswith("::")]
    assert len(annotations) == len(failing_report.findings)
    for ln in annotations:
        assert pattern.match(ln), ln
    assert lines[-1].startswith("llamasize check: FAILED")


def test_sarif_structure(failing_report):
    doc = json.loads(render_check(failing_report, "sarif"))
    assert doc["version"] == "2.1.0" and "sarif-2.1.0" in doc["$schema"]
    run_ = doc["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(RULES)
    assert run_["tool"]["driver"]["name"] == "llamasize"
    assert len(run_["results"]) == len(failing_report.findings)
    for res in run_["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"].startswith("examples/manifests/failing/")
        assert loc["region"]["startLine"] >= 1
        assert res["message"]["text"]
    assert run_["invocations"][0]["exitCode"] == 1


def test_junit_structure(failing_report):
    root = ET.fromstring(render_check(failing_report, "junit"))
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(failing_report.deployments) + sum(1 for f in failing_report.findings
                                                                 if f.deployment is None)
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == failing_report.summary.failed == int(root.get("failures"))
    assert int(root.get("tests")) == len(cases)
    for suite in root.findall("testsuite"):
        assert int(suite.get("tests")) == len(suite.findall("testcase"))
    warn_only = [c for c in cases if "unknown-model" in c.get("name") or "typo" in c.get("name")]
    assert warn_only and all(c.find("failure") is None and c.find("system-out") is not None for c in warn_only)
    f = failed[0].find("failure")
    assert f.get("type").startswith("LS") and f.get("message") and f.text


def test_text_and_markdown(failing_report):
    text = render_check(failing_report, "text")
    first = text.splitlines()[0]
    assert re.match(r"^examples/manifests/failing/\S+\.yaml:\d+: (error|warning): LS\d{3} [a-z-]+: ", first)
    assert "FAIL  examples/manifests/failing/" in text and text.rstrip().splitlines()[-1].startswith("FAILED: 8 files")
    md = render_check(failing_report, "markdown")
    assert md.startswith("## llamasize check") and "| status | deployment |" in md and "### Findings" in md


def test_readme_documents_every_rule():
    readme = (REPO / "README.md").read_text()
    assert rules_markdown() in readme


# ------------------------------------------------------------------------------ the command ---
def test_exit_codes(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    assert cli("check", "examples/manifests/passing").code == 0
    r = cli("check", "examples/manifests/failing")
    assert r.code == 1 and "Traceback" not in r.err
    r = cli("check", "examples/manifests/failing/inferenceservice.yaml", "--max-usd-per-hour", "100")
    assert r.code == 1
    # warnings only: 0 by default, 1 with --fail-on warning
    tmp = REPO / "examples" / "manifests" / "failing" / "statefulset-api-server.yaml"
    assert cli("check", str(tmp)).code == 1
    for args in (("check", "no/such/file.yaml"), ("check", "examples", "--format", "xml"),
                 ("check", "examples", "--fail-on", "note"), ("check", "examples", "--min-headroom", "2"),
                 ("check",)):
        r = cli(*args)
        assert r.code == 2, (args, r.err)
        assert len(r.err.splitlines()) == 1 and r.err.startswith("llamasize: error:") and r.out == ""


def test_fail_on_warning_and_strict(cli, tmp_path):
    p = write(tmp_path, "a.yaml", DEPLOYMENT.format(
        body="""          command: ["vllm", "serve", "example-org/Unknown-7B", "--max-model-len", "8K"]
          resources: {limits: {nvidia.com/gpu: 1}}"""))
    assert cli("check", str(p)).code == 0
    assert cli("check", str(p), "--fail-on", "warning").code == 1
    assert cli("check", str(p), "--strict").code == 1
    pol = write(tmp_path, "policy.yaml", "fail_on: warning\n")
    assert cli("check", str(p), "--policy", str(pol)).code == 1
    assert cli("check", str(p), "--policy", str(pol), "--fail-on", "error").code == 0
    bad = write(tmp_path, "bad-policy.yaml", "max_usd: 3\n")
    r = cli("check", str(p), "--policy", str(bad))
    assert r.code == 2 and "max_usd: unknown key" in r.err
    deep = write(tmp_path, "deep-policy.yaml", "[" * 40_000 + "]" * 40_000)  # crashes libyaml's composer
    r = cli("check", str(p), "--policy", str(deep))
    # Behaviour, not wording: PyYAML >= 6.0.3 may stop the nesting before llamasize's guard does.
    assert r.code == 2 and len(r.err.splitlines()) == 1
    assert r.err.startswith("llamasize: error: ") and str(deep) in r.err and "Traceback" not in r.err


def test_github_actions_default_format(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    r = cli("check", "examples/manifests/failing/helm-values.yaml")
    assert r.code == 1 and r.out.startswith("::error file=examples/manifests/failing/helm-values.yaml,line=12,")


def test_json_output_is_deterministic_and_sorted(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    a = cli("check", "examples/manifests", "--format", "json")
    b = cli("check", "examples/manifests/passing", "examples/manifests", "--format", "json")
    assert a.code == b.code == 1 and a.out == b.out  # a file named twice is checked once
    d = a.json()
    keys = [(f["file"], f["line"], f["rule_id"]) for f in d["findings"]]
    assert keys == sorted(keys)
    assert d["summary"]["files"] == 16 and d["failed"] is True


# ---------------------------------------------------------------------------- malformed input ---
def bomb() -> str:
    text, prev = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n', "a"
    for i in range(1, 10):
        text += f"a{i}: &a{i} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
        prev = f"a{i}"
    return text


MALFORMED = {
    "invalid.yaml": ("kind: Deployment\nmetadata: {name: x\nspec: [\n", "LS100", 3, "invalid YAML"),
    "bomb.yaml": (bomb(), "LS100", None, "billion laughs"),
    "recursive.yaml": ("a: &a [*a]\n", "LS100", 1, "recursive"),
    # Deep nesting: llamasize's own depth guard or libyaml's (PyYAML >= 6.0.3 stops it first, in its own
    # words) may fire; the behaviour asserted is the LS100 finding, not either library's wording.
    "deep.yaml": ("[" * 200_000 + "]" * 200_000, "LS100", None, None),
    "dashes.yaml": ("- " * 200_000 + "x", "LS100", None, None),
    "binary.yaml": (bytes(range(256)) * 64, "LS100", 1, "binary"),
    "latin1.yaml": ("name: caf\xe9\n".encode("latin-1"), "LS100", 1, "UTF-8"),
    "template.yaml": ("kind: Deployment\nmetadata:\n  name: {{ .Values.name }}\n  x: {{- if }}\n  - y\n",
                      "LS102", None, "template"),
    "empty.yaml": ("", "LS101", 1, "no serving deployment"),
    "comments.yaml": ("# nothing here\n---\n---\n", "LS101", 1, "no serving deployment"),
    "scalar.yaml": ("just a string\n", "LS101", 1, "no serving deployment"),
    "hugeint.yaml": ("replicas: " + "9" * 100_000 + "\n", "LS101", 1, "no serving deployment"),
    "nogpu.yaml": ("""apiVersion: v1
kind: Pod
metadata: {name: cpu}
spec:
  nodeSelector: {nvidia.com/gpu.product: NVIDIA-L4}
  containers:
    - name: vllm
      command: ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct"]
""", "LS011", 7, "requests no GPU"),
    "badgpucount.yaml": ("""apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  nodeSelector: {nvidia.com/gpu.product: NVIDIA-L4}
  containers:
    - name: vllm
      command: ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "lots"]
      resources: {limits: {nvidia.com/gpu: two}}
""", "LS013", 8, "whole number"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_input_gives_a_finding_fast(cli, tmp_path, name):
    content, rule, line, words = MALFORMED[name]
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    t = time.perf_counter()
    r = cli("check", str(p), "--format", "json")
    assert time.perf_counter() - t < 5
    assert r.code in (0, 1), r.err
    assert "Traceback" not in r.err
    d = r.json()
    hits = [f for f in d["findings"] if f["rule_id"] == rule]
    assert hits, d["findings"]
    if words is not None:
        assert words in hits[0]["message"]
    if line is not None:
        assert hits[0]["line"] == line
    assert r.code == (1 if RULES[rule].severity == "error" else 0)


def test_a_50_mb_file_is_not_read(cli, tmp_path):
    p = tmp_path / "huge.yaml"
    with open(p, "wb") as fh:
        fh.write(b"a: ")
        fh.seek(50 * 2**20)
        fh.write(b"x\n")
    t = time.perf_counter()
    r = cli("check", str(p), "--format", "json")
    assert time.perf_counter() - t < 5
    assert r.code == 1
    assert [(f["rule_id"], f["line"]) for f in r.json()["findings"]] == [("LS100", 1)]
    assert "5 MiB" in r.json()["findings"][0]["message"]


def test_directory_scan_ignores_unrelated_yaml_and_reports_broken_files(cli, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    write(tmp_path, "sub/config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    write(tmp_path, "empty.yml", "")
    write(tmp_path, ".git/broken.yaml", "a: [")
    write(tmp_path, "notes.txt", "a: [")
    write(tmp_path, "sub/broken.yaml", "a: [\n")
    r = cli("check", str(tmp_path), "--format", "json")
    d = r.json()
    assert r.code == 1
    assert [(Path(f["file"]).name, f["rule_id"]) for f in d["findings"]] == [("broken.yaml", "LS100")]
    assert d["summary"]["files"] == 3


def test_empty_directory(cli, tmp_path):
    r = cli("check", str(tmp_path))
    assert r.code == 0 and "no manifest files found" in r.err


def test_parse_keeps_lines_and_merge_keys():
    docs, problem = parse_documents(b"base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n  s: [a, b]\n---\nz: true\n")
    assert problem is None and len(docs) == 2
    m = docs[0]["m"]
    assert dict(m) == {"x": 1, "y": 3, "s": ["a", "b"]}
    assert m.meta["y"][0] == 4 and docs[0].meta["m"][0] == 2 and docs[1]["z"] is True


# ------------------------------------------------------------------------------------- speed ---
def test_hundreds_of_manifests_are_all_read(tmp_path):
    """300 files in 300 directories: every one read, every deployment found (the speed of this is
    benchmarks/bench_check.py's figure, not a timed test)."""
    import shutil

    for i in range(300):
        src = FAILING[i % len(FAILING)] if i % 2 else PASSING[i % len(PASSING)]
        d = tmp_path / f"d{i:03d}"
        d.mkdir()
        shutil.copy(src, d / src.name)
    r = check_paths([tmp_path], _registry(), CheckOptions())
    assert r.summary.files == 300 and r.summary.deployments > 300


# ------------------------------------------------------------------------------------ fuzzing ---
ODD_VALUES = [None, [], {}, 7, 0, -1, "x", "$(X)", "--", [1, {"a": None}], {"a": [1]}, True, 1.5, "9" * 40,
              "nvidia.com/mig-1g.10gb", {"nvidia.com/gpu": "x"}]


def _node_paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _node_paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _node_paths(v, prefix + (i,))


def test_odd_values_anywhere_never_crash(tmp_path):
    """Replace a random node of a random example with a value of another type, 400 times: every
    file gets findings or nothing, never an exception, and every format renders."""
    import copy
    import random

    import yaml

    rng = random.Random(20240601)
    sources = [(p, list(yaml.safe_load_all(p.read_text()))) for p in PASSING + FAILING]
    for n in range(400):
        path, docs = rng.choice(sources)
        docs = copy.deepcopy(docs)
        d = rng.randrange(len(docs))
        target = rng.choice(list(_node_paths(docs[d])))
        value = copy.deepcopy(rng.choice(ODD_VALUES))
        if not target:
            docs[d] = value
        else:
            node = docs[d]
            for part in target[:-1]:
                node = node[part]
            node[target[-1]] = value
        out = tmp_path / f"{n:03d}"
        out.mkdir()
        (out / path.name).write_text(yaml.safe_dump_all(docs))
    r = check_paths([tmp_path], _registry(), CheckOptions())
    assert r.summary.files == 400
    for fmt in ("text", "json", "markdown", "github", "sarif", "junit"):
        assert render_check(r, fmt)


def test_readme_console_examples_match_real_output(cli, monkeypatch):
    """The README's ```console examples of check show lines the command really prints."""
    monkeypatch.chdir(REPO)
    blocks = re.findall(r"```console\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    examples = [b for b in blocks if b.startswith("$ llamasize check ")]
    assert examples
    for block in examples:
        command, *shown = block.splitlines()
        r = cli(*command[2:].split()[1:])
        assert r.code == 1
        for line in shown:
            if line != "...":
                assert line in r.out.splitlines(), line
