"""``llamasize check`` on hostile input (issue 10): values that try to forge output (R14), deployments
that share an id (item 6) and YAML mappings that repeat a key.

Every format is parsed back and its findings compared with the JSON's: the same (rule, line,
deployment, message) list, each finding once, and no raw control or bidi character anywhere.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from conftest import REPO, run_cli
from llamasize.check.yamltree import parse_documents
from llamasize.text import quote_if_needed

FORMATS = ("text", "markdown", "github", "junit", "sarif")
#: Characters that must never reach output raw (ESC, CR, other C0/C1 controls, bidi controls).
RAW_BAD = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")

HOSTILE = r'''apiVersion: apps/v1
kind: Deployment
metadata:
  name: "evil\nhostile.yaml:1: error: LS001 does-not-fit: forged | cell\e[31m\u202eright"
spec:
  template:
    spec:
      nodeSelector:
        nvidia.com/gpu.product: "NVIDIA-Nope\n::error file=x.yaml,line=1::forged 100%"
      containers:
        - name: vllm
          image: vllm/vllm-openai:latest
          command: ["vllm", "serve"]
          args: ["org/Unknown\u202eModel\r\n| x |", "--max-model-len", "8K\nhostile.yaml:2: error: LS013 x: y"]
          resources: {limits: {nvidia.com/gpu: "1"}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: "twin"
spec:
  template:
    spec:
      containers:
        - name: vllm
          command: ["vllm", "serve", "org/a"]
          resources: {limits: {nvidia.com/gpu: "1"}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: "twin"
spec:
  template:
    spec:
      containers:
        - name: vllm
          command: ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--kv-cache-dtype", "<bad>&\e]0;title\a"]
'''

_SELECTOR = ("      nodeSelectorTerms:\n        - matchExpressions:\n            - key: nvidia.com/gpu.product\n"
             "              operator: In\n              values: [{gpu}]\n")
TWINS = ("servingEngineSpec:\n  modelSpec:\n"
         "    - name: m\n      modelURL: meta-llama/Llama-3.1-8B-Instruct\n      requestGPU: 1\n"
         "      vllmConfig: {maxModelLen: 8192}\n" + _SELECTOR.format(gpu="NVIDIA-H100-80GB-HBM3") +
         "    - name: m\n      modelURL: meta-llama/Llama-3.1-8B-Instruct\n      requestGPU: 1\n"
         "      vllmConfig: {maxModelLen: 131072}\n" + _SELECTOR.format(gpu="NVIDIA-L4"))
#: Two twins on one line (flow style): even file:line does not tell them apart.
FLOW_TWINS = ("servingEngineSpec:\n  modelSpec: [{name: m, modelURL: org/one, requestGPU: 1}, "
              "{name: m, modelURL: org/two, requestGPU: 1}, {name: 'm#2', modelURL: org/three, requestGPU: 1}]\n")


def check(path: str, fmt: str):
    r = run_cli("check", path, "--format", fmt)
    assert r.code in (0, 1), (fmt, r.code, r.err)
    assert r.err == ""
    return r


def json_findings(path: str) -> tuple[dict, list[tuple]]:
    """The JSON report and its findings as (rule, line, shown deployment, message)."""
    report = json.loads(check(path, "json").out)
    shown = {d["id"]: d["kind"] + "/" + quote_if_needed(d["name"]) + d["id"][len(d["kind"]) + 1 + len(d["name"]):]
             for d in report["deployments"]}
    return report, sorted((f["rule_id"], f["line"], shown[f["deployment"]] if f["deployment"] else None, f["message"])
                          for f in report["findings"])


def _owner(message: str, ids: list[str]) -> str | None:
    """The deployment a message starts with (``Kind/name: ...``), longest id first."""
    return next((i for i in sorted(ids, key=len, reverse=True) if message.startswith(i + ": ")), None)


def _line_re(file: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(file)}:(\d+): (error|warning|note): (LS\d{{3}}) ([a-z-]+): (.*)$")


def parsed(path: str, fmt: str, ids: list[str]) -> list[tuple]:
    """The findings one format shows, as (rule, line, shown deployment, message)."""
    return parse_output(check(path, fmt).out, fmt, path, ids, json.loads(check(path, "json").out))


def parse_output(out: str, fmt: str, path: str, ids: list[str], report: dict) -> list[tuple]:
    """The findings in one format's output (of the file ``path``), as (rule, line, shown
    deployment, message); ``ids`` are the shown ids of ``report``'s deployments, in order."""
    assert not RAW_BAD.search(out), (fmt, RAW_BAD.search(out))
    found = []
    if fmt == "text":
        rx = _line_re(path)
        lines = [ln for ln in out.splitlines() if ln.startswith(path + ":")]
        for ln in lines:
            m = rx.match(ln)
            assert m, ln
            found.append((m[3], int(m[1]), _owner(m[5], ids), m[5]))
    elif fmt == "markdown":
        rows = out.split("### Findings", 1)[1].splitlines()[4:] if "### Findings" in out else []
        for row in (r for r in rows if r.startswith("| ")):
            cells = [re.sub(r"\\(.)", r"\1", c.strip()) for c in re.split(r"(?<!\\)\|", row)[1:-1]]
            assert len(cells) == 4, row
            loc = re.fullmatch(r"`(.*):(\d+)`", cells[2])
            msg = cells[3]
            found.append((cells[1].split()[0], int(loc[2]), _owner(msg, ids), msg))
    elif fmt == "github":
        rx = re.compile(r"^::(error|warning|notice) file=([^,]*),line=(\d+),title=(LS\d{3}) ([a-z-]+)::(.*)$")
        for ln in (x for x in out.splitlines() if x.startswith("::")):
            m = rx.match(ln)
            assert m, ln
            msg = m[6].replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")
            found.append((m[4], int(m[3]), _owner(msg, ids), msg))
    elif fmt == "junit":
        root = ET.fromstring(out)  # well-formed XML 1.0
        rx = _line_re(path)
        for case in root.iter("testcase"):
            name = case.get("name").rsplit(" (line ", 1)[0]
            owner = None if re.match(r"^LS\d{3} ", name) else name
            for part in ("failure", "system-out"):
                for el in case.iter(part):
                    for ln in (el.text or "").splitlines():
                        m = rx.match(ln)
                        assert m, ln
                        found.append((m[3], int(m[1]), owner, m[5]))
    elif fmt == "sarif":
        doc = json.loads(out)
        shown = {d["id"]: i for d, i in zip(report["deployments"], ids)}
        for res in doc["runs"][0]["results"]:
            dep = res.get("properties", {}).get("deployment")
            found.append((res["ruleId"], res["locations"][0]["physicalLocation"]["region"]["startLine"],
                          shown[dep] if dep else None, res["message"]["text"]))
    return sorted(found)


def _ids_in_order(report: dict) -> list[str]:
    return [d["kind"] + "/" + quote_if_needed(d["name"]) + d["id"][len(d["kind"]) + 1 + len(d["name"]):]
            for d in report["deployments"]]


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hostile.yaml").write_text(HOSTILE)
    (tmp_path / "twins.yaml").write_text(TWINS)
    (tmp_path / "flow-twins.yaml").write_text(FLOW_TWINS)
    return tmp_path


# ------------------------------------------------------------------ every format, same findings ---
@pytest.mark.parametrize("name", ["hostile.yaml", "twins.yaml", "flow-twins.yaml"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_gives_the_json_findings(files, name, fmt):
    report, expected = json_findings(name)
    assert expected, "the file must produce findings"
    ids = _ids_in_order(report)
    assert len(set(d["id"] for d in report["deployments"])) == len(report["deployments"])  # ids unique
    assert parsed(name, fmt, ids) == expected


def test_examples_agree_across_formats(monkeypatch):
    monkeypatch.chdir(REPO)
    path = "examples/manifests/failing/helm-values.yaml"
    report, expected = json_findings(path)
    for fmt in FORMATS:
        assert parsed(path, fmt, _ids_in_order(report)) == expected, fmt


# ---------------------------------------------------------------------------- forged output ---
def test_a_name_with_a_newline_forges_no_finding_line(files):
    report, expected = json_findings("hostile.yaml")
    text = check("hostile.yaml", "text").out
    finding_lines = [ln for ln in text.splitlines() if re.match(r"^\S+:\d+: (error|warning|note): LS\d{3} ", ln)]
    assert len(finding_lines) == len(report["findings"])
    assert all(ln.startswith("hostile.yaml:") for ln in finding_lines)
    assert not any(ln.startswith("hostile.yaml:1:") or ln.startswith("hostile.yaml:2:") for ln in finding_lines)
    evil = next(d for d in report["deployments"] if d["name"].startswith("evil"))
    assert "\n" in evil["name"] and "\u202e" in evil["name"]  # JSON keeps the data
    prefix = "Deployment/'evil\\nhostile.yaml:1: error: LS001 does-not-fit: forged | cell\\x1b[31m\\u202eright': "
    mine = [f for f in report["findings"] if f["deployment"] == evil["id"]]
    assert mine and all(f["message"].startswith(prefix) for f in mine)
    assert all(not RAW_BAD.search(f["message"]) and "\n" not in f["message"] for f in report["findings"])
    gh = check("hostile.yaml", "github").out
    assert len(gh.splitlines()) == len(report["findings"]) + 1  # one annotation each, then the summary


def test_values_are_quoted_with_escapes(files):
    report, _ = json_findings("hostile.yaml")
    by_rule = {f["rule_id"]: f["message"] for f in report["findings"] if f["deployment"] and "evil" in f["deployment"]}
    assert "gpu.product='NVIDIA-Nope\\n::error file=x.yaml,line=1::forged 100%' matches no GPU" in by_rule["LS010"]
    assert "got '8K\\nhostile.yaml:2: error: LS013 x: y'" in by_rule["LS013"]
    (kv,) = [f["message"] for f in report["findings"] if f["rule_id"] == "LS012"]
    assert kv.startswith("Deployment/twin#2: KV-cache dtype '<bad>&\\x1b]0;title\\x07' is not modelled")
    assert "model 'org/Unknown\\u202eModel\\r\\n| x |' is not in the spec registry" in by_rule["LS009"]


def test_markdown_cells_hold_the_pipes(files):
    md = check("hostile.yaml", "markdown").out
    for row in (r for r in md.splitlines() if r.startswith("| ")):
        header = md.splitlines()[md.splitlines().index(row) - 1]
        assert len(re.split(r"(?<!\\)\|", row)) >= 5, row
        assert "\n" not in row and "\r" not in row, header


def test_junit_is_well_formed_and_escaped(files):
    out = check("hostile.yaml", "junit").out
    root = ET.fromstring(out)
    names = [c.get("name") for c in root.iter("testcase")]
    assert any(n.startswith("Deployment/'evil\\n") for n in names)
    assert "Deployment/twin (line 25)" in names and "Deployment/twin#2 (line 37)" in names


def test_an_8000_character_value_is_cut_with_its_length(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "long.yaml").write_text(HOSTILE.split("---")[1].replace("org/a", "org/" + "x" * 8000))
    report = json.loads(check("long.yaml", "json").out)
    (msg,) = [f["message"] for f in report["findings"] if f["rule_id"] == "LS009"]
    assert "\u2026' (8,004 characters)" in msg and len(msg) < 600
    text = check("long.yaml", "text").out
    assert max(len(ln) for ln in text.splitlines()) < 700


def test_llamasize_yaml_keys_and_ids_are_quoted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.llamasize.yaml").write_text('model: scout\ngpu: "h100\\e[2J"\nctx: 8K\n')
    (tmp_path / "b.llamasize.yaml").write_text('model: scout\ngpu: h100\nctx: 8K\n"bad\\nkey": 1\n')
    a = json.loads(check("a.llamasize.yaml", "json").out)["findings"]
    assert [f["rule_id"] for f in a] == ["LS010"] and "unknown gpu 'h100\\x1b[2J'" in a[0]["message"]
    b = json.loads(check("b.llamasize.yaml", "json").out)["findings"]
    assert [(f["rule_id"], f["line"]) for f in b] == [("LS013", 4)]
    assert "'bad\\nkey': unknown key" in b[0]["message"]


def test_a_path_with_a_newline_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run_cli("check", "no\nllamasize: error: forged")
    assert r.code == 2 and r.out == ""
    assert len(r.err.strip().splitlines()) == 1 and "'no\\nllamasize: error: forged'" in r.err


# --------------------------------------------------------------------------- twin deployments ---
def test_a_passing_twin_is_not_marked_failed(files):
    report = json.loads(check("twins.yaml", "json").out)
    assert [(d["id"], d["status"]) for d in report["deployments"]] == [("modelSpec/m", "pass"),
                                                                       ("modelSpec/m#2", "fail")]
    assert {f["deployment"] for f in report["findings"]} == {"modelSpec/m#2"}
    root = ET.fromstring(check("twins.yaml", "junit").out)
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"modelSpec/m (line 3)", "modelSpec/m#2 (line 12)"}
    assert cases["modelSpec/m (line 3)"].find("failure") is None
    assert cases["modelSpec/m#2 (line 12)"].find("failure") is not None
    assert root.get("tests") == "2" and root.get("failures") == "1"


def test_twins_on_one_line_keep_their_own_findings(files):
    report = json.loads(check("flow-twins.yaml", "json").out)
    assert [d["id"] for d in report["deployments"]] == ["modelSpec/m", "modelSpec/m#2", "modelSpec/m#3"]
    ls009 = {f["deployment"]: f["message"] for f in report["findings"] if f["rule_id"] == "LS009"}
    assert "'org/one'" in ls009["modelSpec/m"] and "'org/two'" in ls009["modelSpec/m#3"]
    assert "'org/three'" in ls009["modelSpec/m#2"]  # the real name 'm#2' keeps its id


# ------------------------------------------------------------------------- duplicate YAML keys ---
DUP = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: dup
spec:
  replicas: 1
  replicas: 3
  template:
    spec:
      nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3, nvidia.com/gpu.product: NVIDIA-L4}
      containers:
        - name: vllm
          command: ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192"]
          resources: {limits: {nvidia.com/gpu: "1"}}
"""


def test_duplicate_keys_are_reported_at_the_repeated_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dup.yaml").write_text(DUP)
    r = check("dup.yaml", "json")
    report = json.loads(r.out)
    dups = [(f["line"], f["severity"], f["message"]) for f in report["findings"] if f["rule_id"] == "LS103"]
    assert dups == [
        (7, "error", "duplicate key 'replicas' (also on line 6); the last value is the one checked"),
        (10, "error", "duplicate key 'nvidia.com/gpu.product' (also on line 10); the last value is the one checked")]
    assert r.code == 1 and report["failed"]
    assert report["deployments"][0]["replicas"] == 3 and report["deployments"][0]["gpus"] == ["l4"]


def test_merge_keys_are_not_duplicates():
    dups: list = []
    docs, problem = parse_documents(b"base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", dups)
    assert problem is None and dups == [] and docs[0]["m"] == {"x": 1, "y": 3}
    parse_documents(b"a: 1\nb: {c: 1}\nb: 2\na: 3\n", dups)
    assert dups == [(3, "b", 2), (4, "a", 1)]


def test_duplicates_in_unrelated_yaml_of_a_directory_are_ignored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "config.yaml").write_text("a: 1\na: 2\n")
    assert json.loads(check("d", "json").out)["findings"] == []
    named = json.loads(check("d/config.yaml", "json").out)["findings"]
    assert [(f["rule_id"], f["line"]) for f in named] == [("LS101", 1), ("LS103", 2)]


def test_a_policy_with_a_duplicate_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policy.yaml").write_text("max_usd_per_hour: 10\nmax_usd_per_hour: 1000\n")
    (tmp_path / "dup.yaml").write_text(DUP)
    r = run_cli("check", "dup.yaml", "--policy", "policy.yaml")
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1 and "line 2: duplicate key 'max_usd_per_hour' (also on line 1)" in r.err


def test_goldens_hold_no_duplicate_key(monkeypatch):
    """The examples (and so the golden check JSON) are free of LS103."""
    monkeypatch.chdir(REPO)
    for sub in ("passing", "failing"):
        report = json.loads(check(f"examples/manifests/{sub}", "json").out)
        assert all(f["rule_id"] != "LS103" for f in report["findings"])
        assert len({(d["file"], d["id"]) for d in report["deployments"]}) == len(report["deployments"])


def test_stdout_of_every_format_is_clean(files):
    for fmt in FORMATS + ("json",):
        out = check("hostile.yaml", fmt).out
        if fmt in ("json", "sarif"):
            continue  # JSON keeps the data (escaped by JSON itself)
        assert not RAW_BAD.search(out), fmt
        assert "\u202e" not in out and "\x1b" not in out

