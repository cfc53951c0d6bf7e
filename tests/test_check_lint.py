"""check as a linter (issue 13 item 4): inline waivers, --ignore, the baseline, stdin, --version and
--list-rules. Each test builds its manifests in tmp_path and runs the CLI in-process."""

from __future__ import annotations

import json

import pytest

from llamasize import __version__

#: Two deployments: ``scout`` fails LS002 at its container (line 11), ``mystery`` warns LS009 at its
#: args (line 30).
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: scout
spec:
  template:
    spec:
      nodeSelector:
        nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
      containers:
        - name: vllm{scout_comment}
          image: vllm/vllm-openai:v0.10.1
          args: ["--model", "meta-llama/Llama-4-Scout-17B-16E-Instruct", "--tensor-parallel-size", "4"]
          resources:
            limits:
              nvidia.com/gpu: 4
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: mystery
spec:
  template:
    spec:
      nodeSelector:
        nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.10.1
{mystery_above}          args: ["--model", "acme/secret-model"]
          resources:
            limits:
              nvidia.com/gpu: 1
"""


def manifest(scout_comment: str = "", mystery_above: str = "") -> str:
    return MANIFEST.format(scout_comment=scout_comment, mystery_above=mystery_above)


def run_check(cli, tmp_path, monkeypatch, text: str, *flags: str, name: str = "m.yaml"):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(text)
    r = cli("check", name, "--format", "json", *flags)
    assert r.code in (0, 1), r.err
    return r, r.json()


def rules_of(report) -> list[tuple[int, str]]:
    return [(f["line"], f["rule_id"]) for f in report["findings"]]


# ---------------------------------------------------------------------------------- waivers ---
def test_without_waivers_the_manifest_fails(cli, tmp_path, monkeypatch):
    r, rep = run_check(cli, tmp_path, monkeypatch, manifest())
    assert r.code == 1 and rules_of(rep) == [(11, "LS002"), (30, "LS009")]
    assert rep["summary"]["waived"] == 0 and rep["waived"] == []


def test_waiver_on_the_same_line_with_a_reason(cli, tmp_path, monkeypatch):
    r, rep = run_check(cli, tmp_path, monkeypatch,
                       manifest(scout_comment="  # llamasize: ignore[LS002] context is capped by the router"))
    assert r.code == 0, rules_of(rep)
    assert rules_of(rep) == [(30, "LS009")]
    (w,) = rep["waived"]
    assert (w["by"], w["reason"], w["waiver_line"], w["finding"]["rule_id"]) == \
        ("inline", "context is capped by the router", 11, "LS002")
    assert rep["summary"]["waived"] == 1
    scout = next(d for d in rep["deployments"] if d["name"] == "scout")
    assert scout["status"] == "pass"  # the waived error no longer fails the deployment
    text = cli("check", "m.yaml").out
    assert "; 1 waived" in text.splitlines()[-1]


def test_sarif_lists_waived_findings_as_suppressed(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(manifest(scout_comment="  # llamasize: ignore[LS002] capped by the router"))
    r = cli("check", "m.yaml", "--ignore", "LS009", "--format", "sarif")
    assert r.code == 0
    results = json.loads(r.out)["runs"][0]["results"]
    assert [(x["ruleId"], x["suppressions"][0]["kind"], x["suppressions"][0]["justification"]) for x in results] == \
        [("LS002", "inSource", "capped by the router"), ("LS009", "external", "--ignore")]


def test_waiver_on_the_line_above_covers_the_next_content_line(cli, tmp_path, monkeypatch):
    above = "          # llamasize: ignore[LS009] in-house model, sized by hand\n\n          # another comment\n"
    r, rep = run_check(cli, tmp_path, monkeypatch, manifest(mystery_above=above))
    # the comment lines shift the args of `mystery` down by three
    assert rules_of(rep) == [(11, "LS002")]
    assert rep["waived"][0]["finding"]["line"] == 33 and rep["waived"][0]["waiver_line"] == 30


def test_waiver_without_a_reason_waives_nothing_and_is_reported(cli, tmp_path, monkeypatch):
    r, rep = run_check(cli, tmp_path, monkeypatch, manifest(scout_comment="  # llamasize: ignore[LS002]"))
    assert r.code == 1
    assert (11, "LS002") in rules_of(rep) and (11, "LS110") in rules_of(rep)
    ls110 = next(f for f in rep["findings"] if f["rule_id"] == "LS110")
    assert ls110["severity"] == "warning" and "gives no reason" in ls110["message"]
    assert rep["waived"] == []


def test_unknown_rule_id_in_a_waiver_is_reported(cli, tmp_path, monkeypatch):
    r, rep = run_check(cli, tmp_path, monkeypatch,
                       manifest(scout_comment="  # llamasize: ignore[LS002, LS999] known; LS999 is a typo"))
    assert (11, "LS002") not in rules_of(rep)  # the known id still waives
    bad = [f for f in rep["findings"] if f["rule_id"] == "LS110"]
    assert len(bad) == 1 and "'LS999' is not a rule id" in bad[0]["message"]


def test_unused_waiver_is_a_note(cli, tmp_path, monkeypatch):
    r, rep = run_check(cli, tmp_path, monkeypatch,
                       manifest(scout_comment="  # llamasize: ignore[LS005] kept from an older layout"))
    unused = [f for f in rep["findings"] if f["rule_id"] == "LS111"]
    assert len(unused) == 1 and unused[0]["severity"] == "note" and unused[0]["line"] == 11
    assert (11, "LS002") in rules_of(rep)


def test_waiver_inside_a_shell_script_block(cli, tmp_path, monkeypatch):
    text = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: script}
spec:
  template:
    spec:
      nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.10.1
          command: ["sh", "-c"]
          args:
            - |
              vllm serve acme/secret-model  # llamasize: ignore[LS009] private fine-tune
          resources: {limits: {nvidia.com/gpu: 1}}
"""
    r, rep = run_check(cli, tmp_path, monkeypatch, text)
    waived = [w["finding"]["rule_id"] for w in rep["waived"]]
    assert r.code == 0 and "LS009" in waived and all(f["rule_id"] != "LS009" for f in rep["findings"])


# ----------------------------------------------------------------------------------- ignore ---
def test_ignore_flag_and_policy_key(cli, tmp_path, monkeypatch):
    r, rep = run_check(cli, tmp_path, monkeypatch, manifest(), "--ignore", "LS009")
    assert rules_of(rep) == [(11, "LS002")]
    assert [(w["by"], w["finding"]["rule_id"]) for w in rep["waived"]] == [("ignore", "LS009")]
    r, rep = run_check(cli, tmp_path, monkeypatch, manifest(), "--ignore", "ls002,LS009")
    assert r.code == 0 and rep["findings"] == [] and rep["summary"]["waived"] == 2
    (tmp_path / "policy.yaml").write_text("ignore: [LS002]\n")
    r, rep = run_check(cli, tmp_path, monkeypatch, manifest(), "--policy", "policy.yaml", "--ignore", "LS009")
    assert r.code == 0 and rep["summary"]["waived"] == 2


@pytest.mark.parametrize("flags", [("--ignore", "LS999"), ("--policy", "bad-policy.yaml")])
def test_ignore_of_an_unknown_rule_is_a_usage_error(cli, tmp_path, monkeypatch, flags):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(manifest())
    (tmp_path / "bad-policy.yaml").write_text("ignore: [LS999]\n")
    r = cli("check", "m.yaml", *flags)
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1 and "unknown rule 'LS999'" in r.err


# --------------------------------------------------------------------------------- baseline ---
def test_baseline_is_stable_and_survives_moved_lines(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(manifest())
    assert cli("check", "m.yaml", "--write-baseline", "b1.json").code == 1
    assert cli("check", "m.yaml", "--write-baseline", "b2.json").code == 1
    b1 = (tmp_path / "b1.json").read_bytes()
    assert b1 == (tmp_path / "b2.json").read_bytes()  # byte-identical across runs
    doc = json.loads(b1)
    assert [(e["rule_id"], e["deployment"]) for e in doc["findings"]] == \
        [("LS002", "Deployment/scout"), ("LS009", "Deployment/mystery")]

    # with the baseline: nothing new, exit 0, both counted as waived
    r = cli("check", "m.yaml", "--baseline", "b1.json", "--format", "json")
    assert r.code == 0 and r.json()["findings"] == [] and r.json()["summary"]["waived"] == 2

    # move every line down (a header comment and a blank document) and change a number in the
    # message (the GPU count): still the same findings
    moved = "# moved\n# down\n" + manifest().replace('"--tensor-parallel-size", "4"', '"--tensor-parallel-size", "8"') \
        .replace("nvidia.com/gpu: 4", "nvidia.com/gpu: 8")
    (tmp_path / "m.yaml").write_text(moved)
    r = cli("check", "m.yaml", "--baseline", "b1.json", "--format", "json")
    assert r.code == 0, r.json()["findings"]
    assert {w["finding"]["line"] for w in r.json()["waived"]} == {13, 32}

    # a new finding (a third deployment) is reported; the old ones stay baselined
    extra = moved + "---\n" + manifest().split("---\n")[1].replace("name: mystery", "name: other")
    (tmp_path / "m.yaml").write_text(extra)
    r = cli("check", "m.yaml", "--baseline", "b1.json", "--format", "json")
    new = r.json()["findings"]
    assert [(f["rule_id"], f["deployment"]) for f in new] == [("LS009", "Deployment/other")]
    assert r.code == 0  # a warning: the run fails at errors


def test_refreshing_a_baseline_in_place_keeps_old_and_adds_new(cli, tmp_path, monkeypatch):
    """--baseline B --write-baseline B: the baselined findings and the new ones are written back."""
    monkeypatch.chdir(tmp_path)
    one = manifest().split("---\n")[0]
    (tmp_path / "m.yaml").write_text(one)
    cli("check", "m.yaml", "--write-baseline", "b.json")
    assert [e["rule_id"] for e in json.loads((tmp_path / "b.json").read_text())["findings"]] == ["LS002"]
    (tmp_path / "m.yaml").write_text(manifest())
    r = cli("check", "m.yaml", "--baseline", "b.json", "--write-baseline", "b.json", "--format", "json")
    assert [f["rule_id"] for f in r.json()["findings"]] == ["LS009"]  # reported once, as new
    assert [e["rule_id"] for e in json.loads((tmp_path / "b.json").read_text())["findings"]] == ["LS002", "LS009"]
    assert cli("check", "m.yaml", "--baseline", "b.json").code == 0


def test_baseline_counts_findings(cli, tmp_path, monkeypatch):
    """A baseline with one finding accepts one: a second identical one (another file) is new."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(manifest())
    cli("check", "m.yaml", "--write-baseline", "b.json")
    doc = json.loads((tmp_path / "b.json").read_text())
    doc["findings"] = [e for e in doc["findings"] if e["rule_id"] == "LS002"]
    (tmp_path / "b.json").write_text(json.dumps(doc))
    r = cli("check", "m.yaml", "--baseline", "b.json", "--format", "json")
    assert [f["rule_id"] for f in r.json()["findings"]] == ["LS009"] and r.code == 0


@pytest.mark.parametrize("content", ["{not json", '{"findings": []}', '{"llamasize_baseline": 1, "findings": [1]}'])
def test_invalid_baseline_is_a_usage_error(cli, tmp_path, monkeypatch, content):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(manifest())
    (tmp_path / "b.json").write_text(content)
    r = cli("check", "m.yaml", "--baseline", "b.json")
    assert r.code == 2 and r.out == "" and r.err.count("\n") == 1 and "b.json" in r.err


# ------------------------------------------------------------------------------------ stdin ---
def test_stdin_with_the_default_label(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("check", "-", "--format", "json", stdin=manifest())
    assert r.code == 1
    rep = r.json()
    assert rep["files"] == ["<stdin>"] and {f["file"] for f in rep["findings"]} == {"<stdin>"}
    assert rules_of(rep) == [(11, "LS002"), (30, "LS009")]


def test_stdin_with_a_name_and_waivers(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = manifest(scout_comment="  # llamasize: ignore[LS002] sized by the router")
    r = cli("check", "-", "--stdin-name", "deploy/rendered.yaml", stdin=text)
    assert r.code == 0
    assert r.out.startswith("deploy/rendered.yaml:30: warning: LS009")


def test_stdin_named_llamasize_yaml_is_read_as_one(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    entry = "model: scout\ngpu: h100\nquant: int4_mixed\nctx: 8K\n"
    r = cli("check", "-", "--stdin-name", "svc.llamasize.yaml", "--format", "json", stdin=entry)
    assert r.code == 0, r.out
    assert [d["model"] for d in r.json()["deployments"]] == ["llama4-scout"]


@pytest.mark.parametrize("args,message", [
    (("check", "m.yaml", "--stdin-name", "x.yaml"), "give '-' as a path"),
    (("check", "-", "-"), "once"),
])
def test_stdin_usage_errors(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(manifest())
    r = cli(*args, stdin="")
    assert r.code == 2 and message in r.err


# --------------------------------------------------------------------- --version, --list-rules ---
@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(cli, flag):
    r = cli(flag)
    assert r.code == 0 and r.out == f"llamasize {__version__}\n" and r.err == ""


def test_version_is_listed_in_the_main_help(cli):
    assert "--version" in cli("--help").out


def test_list_rules_has_every_rule_with_its_description(cli):
    from llamasize.check.rules import rule_table

    text = cli("check", "--list-rules").out
    for r in rule_table():
        assert f"{r.id}  {r.name}" in text and r.description in text
    rules = json.loads(cli("check", "--list-rules", "--format", "json").out)
    by_id = {r["id"]: r for r in rules}
    assert by_id["LS110"]["name"] == "invalid-waiver" and "reason is required" in by_id["LS110"]["description"]
    assert by_id["LS111"]["severity"] == "note"


def test_waiver_reason_cannot_forge_output(cli, tmp_path, monkeypatch):
    """A reason holding bidi controls (valid in YAML, unlike ESC) reaches the JSON and SARIF only as
    \\u escapes."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(manifest(scout_comment="  # llamasize: ignore[LS002] ok \u202e \u2066"),
                                     encoding="utf-8")
    for fmt in ("json", "sarif"):
        r = cli("check", "m.yaml", "--format", fmt)
        assert r.code == 0 and "\u202e" not in r.out and "\u2066" not in r.out
        assert "\\u202e" in r.out and "\\u2066" in r.out
    text = cli("check", "m.yaml")
    assert text.code == 0 and "\u202e" not in text.out
