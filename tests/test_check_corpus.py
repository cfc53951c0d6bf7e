"""The corpus of real-world-shaped manifests (tests/corpus, issue 13 item 1): every document of every
file is either checked (a deployment of the report) or listed as ``not a serving deployment`` /
``not modelled`` with a reason; nothing is skipped in silence. Each file states what it expects in
``# expect: ID STATUS`` comment lines (STATUS: pass, warn, fail, not-modelled, not-serving), and the
report must match them exactly: no deployment or listed document without an expectation, none
missing."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from conftest import REPO
from llamasize.check.report import CheckOptions
from llamasize.check.run import check_paths
from llamasize.check.shell import script_segments, substitute
from llamasize.check.yamltree import parse_documents

CORPUS = REPO / "tests" / "corpus"
FILES = sorted(CORPUS.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\S+) (pass|warn|fail|not-modelled|not-serving)\b", re.M)


@pytest.fixture(scope="module")
def report(registry):
    return check_paths([str(CORPUS)], registry, CheckOptions(cwd=REPO))


def _documents(path) -> int:
    """Documents of a file as check counts them (a List's items one by one)."""
    docs, problem = parse_documents(path.read_bytes())
    assert problem is None, f"{path.name}: {problem}"
    return sum(len(d["items"]) if isinstance(d, dict) and d.get("kind") == "List" else 1 for d in docs)


def test_the_corpus_covers_every_shape_of_the_issue():
    assert len(FILES) >= 30
    names = " ".join(p.name for p in FILES)
    for shape in ("prodstack-helm", "vllmruntime", "lws-", "kserve-isvc", "kserve-isvc-multinode", "llmisvc",
                  "llmd-modelservice", "stormservice", "rayclusterfleet", "tpu", "script-comments",
                  "script-continuations", "script-double-quoted-multiline", "flag-kv-cache-memory-bytes",
                  "flag-cpu-offload", "flag-speculative", "lora", "list-kind", "disabled"):
        assert shape in names, shape


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_document_is_checked_or_reported(report, path):
    shown = f"tests/corpus/{path.name}"
    expected = dict(EXPECT.findall(path.read_text()))
    assert expected, f"{path.name} states no expectation"
    got = {d.id: d.status for d in report.deployments if d.file == shown}
    got.update({x.id: "not-modelled" if x.status == "not modelled" else "not-serving"
                for x in report.skipped if x.file == shown})
    assert got == expected
    # every document accounted for: one entry per document at least (a pod template with two
    # serving containers, or a StormService's roles, give more)
    assert len(got) >= _documents(path)
    rules = Counter(f.rule_id for f in report.findings if f.file == shown)
    assert not {"LS100", "LS101", "LS102"} & set(rules), rules


def test_not_modelled_deployments_are_notes_not_errors(report):
    skipped = [x for x in report.skipped if x.status == "not modelled"]
    assert len(skipped) == report.summary.not_modelled >= 3
    for x in skipped:
        mine = [f for f in report.findings if f.file == x.file and f.deployment == x.id]
        assert [f.rule_id for f in mine] == ["LS017"] and mine[0].severity == "note"
        assert "not modelled" in x.reason


def test_summary_counts_checked_unverified_and_listed(report):
    s = report.summary
    assert s.deployments == s.checked + s.unverified
    assert s.checked == sum(d.fits is not None for d in report.deployments) > 20
    assert s.unverified == sum(d.fits is None for d in report.deployments) >= 3
    assert s.not_serving == sum(x.status == "not a serving deployment" for x in report.skipped) >= 8


def test_the_wide_ep_script_is_read_whole(report):
    """The llm-d script with comment lines, `exec`, continuations and a JSON argument spanning lines:
    every flag after the JSON is read (the old parser lost the whole script)."""
    d = next(x for x in report.deployments if x.id == "LeaderWorkerSet/wide-ep-decode")
    assert d.model == "deepseek-v3" and d.gpu_count == 16 and d.expert_parallel and d.context_tokens == 16384
    assert d.data_parallel_size == 16  # $((LWS_GROUP_SIZE * DP_SIZE_LOCAL)) = 2 x 8 from the env
    notes = [f.message for f in report.findings if f.deployment == d.id and f.rule_id == "LS016"]
    assert any("--enable-dbo" in m for m in notes)  # a flag after the multi-line JSON


def test_kserve_multinode_gets_its_gpus_from_the_worker_spec(report):
    d = next(x for x in report.deployments if x.id == "InferenceService/huggingface-llama3-405b")
    assert (d.gpu_count, d.tensor_parallel_size, d.pipeline_parallel_size) == (16, 8, 2)
    assert d.status == "pass" and d.fits


def test_ray_and_stormservice_count_every_pod(report):
    fleet = next(x for x in report.deployments if x.id == "RayClusterFleet/qwen-coder-fleet")
    ray = next(x for x in report.deployments if x.id == "RayService/llama-70b-ray")
    assert fleet.gpu_count == 2 and ray.gpu_count == 12  # head + worker groups
    decode = next(x for x in report.deployments if x.id == "StormService/vllm-1p1d/decode")
    assert decode.replicas == 2 and decode.model == "llama3.1-8b"


def test_shell_arithmetic_and_scripts():
    env = {"A": "2", "B": "8", "X": "x"}
    assert substitute("--dp $((A * B)) --n $(( ${A} + $B )) --q $(( 7 / 2 ))", env) == "--dp 16 --n 10 --q 3"
    assert substitute("$((A * X))", env) == "$((A * X))" and substitute("$((A**B))", env) == "$((A**B))"
    script = "# a comment with a ' quote\nexec vllm serve m \\\n  --x '{\"a\":\n 1}' && echo ok # trailing\n"
    segs = [[w for w, _ in seg] for seg in script_segments(script, 1, "|")]
    assert segs == [["exec", "vllm", "serve", "m", "--x", '{"a":\n 1}'], ["echo", "ok"]]
