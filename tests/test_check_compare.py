"""``check --compare BASE`` (issue 13 item 5): against a git revision of a temporary repository the
test builds (read with git show, the work tree untouched), a directory and a saved JSON report;
prices per deployment and in total, headroom before and after, new findings, exit codes and the
policy's largest monthly increase. No network: git only reads the local repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from llamasize.check.compare import COMMENT_MARKER, HOURS_PER_MONTH

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not on the PATH")

ENTRY = """\
  - name: {name}
    model: scout
    quant: int4_mixed
    gpu: h100
    gpus: {gpus}
    ctx: 8K
    replicas: {replicas}
"""
BASE = "deployments:\n" + ENTRY.format(name="chat", gpus=1, replicas=1) + ENTRY.format(name="batch", gpus=1, replicas=1)
HEAD = "deployments:\n" + ENTRY.format(name="chat", gpus=1, replicas=3) + ENTRY.format(name="fresh", gpus=2, replicas=1)
UNKNOWN = "deployments:\n  - name: odd\n    model: acme-unknown\n    gpu: h100\n    ctx: 8K\n"


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_SYSTEM=os.devnull, GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@example.invalid", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository whose commit holds BASE in deploy/llamasize.yaml; the work tree holds HEAD."""
    root = tmp_path / "repo"
    (root / "deploy").mkdir(parents=True)
    (root / "deploy" / "llamasize.yaml").write_text(BASE)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    (root / "deploy" / "llamasize.yaml").write_text(HEAD)
    monkeypatch.chdir(root)
    return root


def prices(cli, directory: Path) -> dict[str, float]:
    """USD per hour of each deployment, from a plain check of ``directory``."""
    r = cli("check", str(directory), "--format", "json")
    return {d["name"]: d["price_usd_per_hour"] for d in r.json()["deployments"]}


def test_git_revision(cli, repo, tmp_path):
    status_before, head_before = git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD")
    r = cli("check", "deploy", "--compare", "HEAD", "--format", "json")
    assert r.code == 0, r.err
    rep = r.json()
    assert rep["base_kind"] == "git"
    changes = {d["id"]: d["change"] for d in rep["deployments"]}
    assert changes == {"llamasize/chat": "changed", "llamasize/batch": "removed", "llamasize/fresh": "added"}
    # the work tree and HEAD are as they were: nothing was checked out
    assert git(repo, "status", "--porcelain") == status_before and git(repo, "rev-parse", "HEAD") == head_before

    after = prices(cli, repo / "deploy")
    base_dir = tmp_path / "base"
    (base_dir / "deploy").mkdir(parents=True)
    (base_dir / "deploy" / "llamasize.yaml").write_text(BASE)
    before = prices(cli, base_dir / "deploy")
    t = rep["totals"]
    assert t["usd_per_hour_before"] == pytest.approx(sum(before.values()))
    assert t["usd_per_hour_after"] == pytest.approx(sum(after.values()))
    assert t["delta_usd_per_month"] == pytest.approx((sum(after.values()) - sum(before.values())) * 730, abs=0.01)
    assert HOURS_PER_MONTH == 730
    assert (t["gpus_before"], t["gpus_after"]) == (2, 5)  # 1 + 1 -> 1 x 3 replicas + 2
    chat = next(d for d in rep["deployments"] if d["id"] == "llamasize/chat")
    assert (chat["before"]["gpus"], chat["after"]["gpus"]) == (1, 3) and "replicas" in chat["fields"]
    assert chat["delta_usd_per_month"] == pytest.approx(2 * before["chat"] * 730, abs=0.01)
    assert chat["before"]["headroom_fraction"] is not None and chat["after"]["headroom_fraction"] is not None
    added = next(d for d in rep["deployments"] if d["change"] == "added")
    assert added["before"] is None and added["after"]["usd_per_month"] == pytest.approx(after["fresh"] * 730, abs=0.01)


def test_the_same_comparison_from_a_directory_and_from_a_saved_report(cli, repo, tmp_path):
    by_git = cli("check", "deploy", "--compare", "HEAD", "--format", "json").json()
    base_dir = tmp_path / "base-checkout"
    (base_dir / "deploy").mkdir(parents=True)
    (base_dir / "deploy" / "llamasize.yaml").write_text(BASE)
    by_dir = cli("check", "deploy", "--compare", str(base_dir), "--format", "json").json()
    assert by_dir["base_kind"] == "directory"
    assert by_dir["deployments"] == by_git["deployments"] and by_dir["totals"] == by_git["totals"]
    saved = tmp_path / "base-report.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base_dir)
        saved.write_text(cli("check", "deploy", "--format", "json").out)
    by_report = cli("check", "deploy", "--compare", str(saved), "--format", "json").json()
    assert by_report["base_kind"] == "report" and by_report["totals"] == by_git["totals"]


def test_from_a_subdirectory_of_the_repository(cli, repo, monkeypatch):
    monkeypatch.chdir(repo / "deploy")
    rep = cli("check", ".", "--compare", "HEAD", "--format", "json").json()
    assert {d["file"] for d in rep["deployments"]} == {"llamasize.yaml"}
    assert {d["change"] for d in rep["deployments"]} == {"added", "removed", "changed"}


def test_git_named_file_and_hidden_directories(cli, repo):
    """A named file is read as it is; a directory's hidden subdirectories are skipped on both sides
    (as the directory walk of check skips them), so a manifest there is neither added nor removed."""
    hidden = repo / "deploy" / ".drafts"
    hidden.mkdir()
    (hidden / "llamasize.yaml").write_text(BASE)
    git(repo, "add", "-f", ".")
    git(repo, "commit", "-q", "-m", "drafts")
    (repo / "deploy" / "llamasize.yaml").write_text(HEAD)
    rep = cli("check", "deploy/llamasize.yaml", "--compare", "HEAD~1", "--format", "json").json()
    assert {d["file"] for d in rep["deployments"]} == {"deploy/llamasize.yaml"}
    rep = cli("check", "deploy", "--compare", "HEAD", "--format", "json").json()
    # HEAD holds deploy/.drafts/llamasize.yaml: read there, its deployments would show as removed
    assert all(".drafts" not in d["file"] for d in rep["deployments"])
    assert {d["change"] for d in rep["deployments"]} == {"unchanged"} and len(rep["deployments"]) == 2


def test_markdown_is_a_pr_comment(cli, repo):
    r = cli("check", "deploy", "--compare", "HEAD", "--format", "markdown")
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0] == COMMENT_MARKER and lines[1].startswith("## ")
    assert lines[3].startswith("**+$") and "/month**" in lines[3]
    rows = [ln for ln in lines if ln.startswith("| ") and "`deploy/llamasize.yaml`" in ln]
    assert sorted(row.split(" | ")[0] for row in rows) == ["| added", "| changed", "| removed"]
    assert any(ln.startswith("| **total** |") for ln in lines)


def test_text_lists_only_what_changed(cli, repo):
    r = cli("check", "deploy", "--compare", "HEAD")
    assert r.code == 0 and r.out.startswith("Compared with HEAD (git): 1 added, 1 removed, 1 changed, 0 unchanged")
    assert "Total: +$" in r.out and r.out.rstrip().endswith("OK: check passed (failing at: error)")


def test_monthly_increase_policy(cli, repo, tmp_path):
    rep = cli("check", "deploy", "--compare", "HEAD", "--format", "json").json()
    delta = rep["totals"]["delta_usd_per_month"]
    assert delta > 0
    r = cli("check", "deploy", "--compare", "HEAD", "--max-monthly-increase", str(delta - 1), "--format", "json")
    assert r.code == 1 and r.json()["increase_above_policy"] and not r.json()["check_failed"]
    r = cli("check", "deploy", "--compare", "HEAD", "--max-monthly-increase", str(delta + 1))
    assert r.code == 0 and "within the policy's maximum" in r.out
    (tmp_path / "policy.yaml").write_text(f"max_monthly_increase_usd: {delta / 2}\n")
    r = cli("check", "deploy", "--compare", "HEAD", "--policy", str(tmp_path / "policy.yaml"))
    assert r.code == 1 and "above the policy's maximum" in r.out


def test_new_findings_and_check_failure(cli, repo):
    (repo / "deploy" / "other.llamasize.yaml").write_text(UNKNOWN)
    rep = cli("check", "deploy", "--compare", "HEAD", "--format", "json").json()
    assert [f["rule_id"] for f in rep["new_findings"]] == ["LS009"] and not rep["failed"]
    r = cli("check", "deploy", "--compare", "HEAD", "--strict", "--format", "json")
    assert r.code == 1 and r.json()["check_failed"]  # exit codes as for check: LS009 is an error with --strict
    # the base has the unknown model too: no longer new
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "next")
    rep = cli("check", "deploy", "--compare", "HEAD", "--format", "json").json()
    assert rep["new_findings"] == [] and {d["change"] for d in rep["deployments"]} == {"unchanged"}
    assert rep["totals"]["delta_usd_per_month"] == 0


@pytest.mark.parametrize("args,message", [
    (("--compare", "no-such-branch"), "not a directory, a .json report or a git revision"),
    (("--compare", "HEAD", "--format", "sarif"), "unknown --compare format"),
    (("--compare", "--upload-pack=x"), "not a directory, report or git revision"),
])
def test_usage_errors(cli, repo, args, message):
    r = cli("check", "deploy", *args)
    assert r.code == 2 and r.out == "" and message in r.err and r.err.count("\n") == 1


def test_outside_a_repository(cli, tmp_path, monkeypatch):
    (tmp_path / "plain" / "deploy").mkdir(parents=True)
    (tmp_path / "plain" / "deploy" / "llamasize.yaml").write_text(BASE)
    monkeypatch.chdir(tmp_path / "plain")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    r = cli("check", "deploy", "--compare", "main")
    assert r.code == 2 and r.out == "" and r.err.startswith("llamasize: error: git ")


def test_compare_json_validates_against_its_published_schema(cli, repo):
    import jsonschema

    from llamasize.check.compare import CompareReport

    rep = cli("check", "deploy", "--compare", "HEAD", "--format", "json").json()
    schema = json.loads(cli("schema", "check-compare").out)
    jsonschema.Draft202012Validator(schema).validate(rep)
    assert CompareReport.model_validate(rep).totals.gpus_after == 5
    broken = dict(rep, totals=dict(rep["totals"], gpus_after="five"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(broken)
