"""examples/: the Terraform module (both routes) and the GitHub Actions workflow, exercised the way
Terraform and GitHub run them. The manifests are exercised by test_check.py. The HCL is read with
regular expressions and the external program is run as the external provider runs it (no shell, the
query on stdin, no extra arguments); when a ``terraform`` binary is on the PATH, the tfvars route and
the provider list are also run through it (offline: that route needs no provider, and
``terraform providers`` downloads nothing)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TF = REPO / "examples" / "terraform"
GHA = REPO / "examples" / "github-actions"
TFVARS_COMMAND = ("plan", "--model", "maverick", "--quant", "int4", "--ctx", "1M", "--format", "tfvars")
HCL_TYPES = {"number": (int, float), "string": (str,), "bool": (bool,)}


def variables() -> dict[str, dict]:
    """``variable "name" { type = T  nullable = B }`` blocks of variables.tf."""
    text = (TF / "variables.tf").read_text()
    out = {}
    for name, body in re.findall(r'variable\s+"([^"]+)"\s*\{(.*?)\n\}', text, flags=re.S):
        t = re.search(r"\btype\s*=\s*(\w+)", body)
        out[name] = {"type": t.group(1) if t else None,
                     "nullable": bool(re.search(r"\bnullable\s*=\s*true", body))}
    return out


def external_block() -> tuple[list[str], dict[str, str]]:
    """``program`` and the literal ``query`` map of the data "external" block in main.tf."""
    text = (TF / "main.tf").read_text()
    block = re.search(r'data\s+"external"\s+"llamasize"\s*\{(.*?)\n\}', text, flags=re.S).group(1)
    program = json.loads(re.search(r"program\s*=\s*(\[[^\]]*\])", block).group(1))
    query_body = re.search(r"query\s*=\s*\{(.*?)\}", block, flags=re.S).group(1)
    query = dict(re.findall(r'^\s*(\w+)\s*=\s*"([^"]*)"', query_body, flags=re.M))
    return program, query


def shim(directory: Path) -> Path:
    """A ``llamasize`` executable on a PATH of our own that runs this interpreter's package."""
    directory.mkdir(parents=True, exist_ok=True)
    exe = directory / "llamasize"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m llamasize "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return directory


# -------------------------------------------------------------------------------- terraform ---
def test_tfvars_file_matches_the_declared_variables():
    declared = variables()
    committed = json.loads((TF / "llamasize.auto.tfvars.json").read_text())
    assert set(committed) == set(declared)
    for key, value in committed.items():
        v = declared[key]
        if value is None:
            assert v["nullable"], key
        else:
            assert isinstance(value, HCL_TYPES[v["type"]]), (key, value, v)
            assert not (v["type"] == "number" and isinstance(value, bool)), key


def test_tfvars_file_is_what_llamasize_writes_today(cli):
    """The committed file is the output of the command in its header (regenerate it when this fails)."""
    r = cli(*TFVARS_COMMAND)
    assert r.code == 0
    assert json.loads((TF / "llamasize.auto.tfvars.json").read_text()) == r.json()
    assert " ".join(TFVARS_COMMAND[:-2]) in (TF / "variables.tf").read_text()
    assert set(r.json()) == set(variables())


def test_external_data_source_runs_as_terraform_runs_it(tmp_path):
    program, query = external_block()
    assert program == ["llamasize", "terraform-external"]
    assert query == {"model": "maverick", "quant": "int4", "ctx": "1M", "engine": "vllm"}
    env = dict(os.environ, PATH=f"{shim(tmp_path / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}")
    exe = shutil.which(program[0], path=env["PATH"])
    p = subprocess.run([exe, *program[1:]], input=json.dumps(query), capture_output=True, text=True, env=env,
                       cwd=TF, timeout=60)
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert all(isinstance(v, str) for v in result.values())

    main = (TF / "main.tf").read_text()
    used = set(re.findall(r"data\.external\.llamasize\.result\.(\w+)", main))
    used |= set(re.findall(r"local\.sized\.(\w+)", main))
    assert used and used <= set(result), used - set(result)
    assert "jsondecode(data.external.llamasize.result.plan_json)" in main
    plan = json.loads(result["plan_json"])
    for path in re.findall(r"local\.plan\.([\w.]+)", main):
        node = plan
        for part in path.split("."):
            node = node[part]
    # the two routes were asked the same question: routes_agree is true
    tfvars = json.loads((TF / "llamasize.auto.tfvars.json").read_text())
    assert (tfvars["gpu_type"], tfvars["gpu_count"]) == (result["gpu_type"], int(result["gpu_count"]))
    declared = variables()
    assert set(re.findall(r"\bvar\.(\w+)", main)) <= set(declared)


def test_external_data_source_error_reaches_terraform_as_one_line(tmp_path):
    program, query = external_block()
    env = dict(os.environ, PATH=f"{shim(tmp_path / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}")
    p = subprocess.run([shutil.which(program[0], path=env["PATH"]), *program[1:]],
                       input=json.dumps(dict(query, ctx=1048576)), capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode != 0 and p.stdout == ""
    assert len(p.stderr.splitlines()) == 1 and "must be a string" in p.stderr


# -------------------------------------------------------------------------- github actions ---
def workflow() -> dict:
    return yaml.safe_load((GHA / "llamasize-check.yml").read_text())


def check_step(wf: dict) -> dict:
    steps = wf["jobs"]["check"]["steps"]
    return next(s for s in steps if "llamasize check" in s.get("run", ""))


def test_workflow_shape():
    wf = workflow()
    assert "pull_request" in wf[True]  # YAML 1.1 reads the key `on` as True
    step = check_step(wf)
    assert "--format github" in step["run"] and "GITHUB_STEP_SUMMARY" in step["run"]
    assert "--format markdown" in step["run"] and "--format sarif" in step["run"]
    uploads = [s for s in wf["jobs"]["check"]["steps"] if "upload-sarif" in s.get("uses", "")]
    assert uploads and uploads[0]["with"]["sarif_file"] == "llamasize.sarif"


@pytest.mark.parametrize("manifests,status", [("failing", 1), ("passing", 0)])
def test_workflow_step_runs(tmp_path, manifests, status):
    """Run the check step's script in a checkout laid out as the workflow expects."""
    wf = workflow()
    job_env = wf["jobs"]["check"]["env"]
    shutil.copytree(REPO / "examples" / "manifests" / manifests, tmp_path / job_env["MANIFESTS"])
    (tmp_path / ".github").mkdir()
    shutil.copy(GHA / "llamasize-policy.yaml", tmp_path / job_env["POLICY"])
    summary = tmp_path / "summary.md"
    env = dict(os.environ, **{k: str(v) for k, v in job_env.items()}, GITHUB_ACTIONS="true",
               GITHUB_STEP_SUMMARY=str(summary),
               PATH=f"{shim(tmp_path / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}")
    p = subprocess.run(["bash", "-e", "-c", check_step(wf)["run"]], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == status, p.stderr
    annotations = [ln for ln in p.stdout.splitlines() if ln.startswith("::")]
    if status:
        assert annotations and all(re.match(r"^::(error|warning|notice) file=deploy/[^,]+,line=\d+,title=LS\d{3} ",
                                            ln) for ln in annotations)
    else:
        assert annotations == []
    md = summary.read_text()
    assert md.startswith("## llamasize check") and "| status | deployment |" in md
    sarif = json.loads((tmp_path / "llamasize.sarif").read_text())
    assert sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) == len(annotations)


# ------------------------------------------------------------- terraform binary (when present) ---
TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="no terraform binary on the PATH: the tfvars "
                                                               "route is checked with regular expressions only")


def terraform(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``terraform ARGS`` offline: no version check (CHECKPOINT_DISABLE), no user CLI config."""
    env = dict(os.environ, CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0",
               TF_CLI_CONFIG_FILE=os.devnull)
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    return subprocess.run([TERRAFORM, *args, "-no-color"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


@needs_terraform
def test_tfvars_route_through_terraform(tmp_path, cli):
    """llamasize's tfvars output, loaded by Terraform as an auto.tfvars.json file into the module's
    variables.tf, comes back with the same values and types (no provider, no network)."""
    r = cli(*TFVARS_COMMAND)
    assert r.code == 0
    (tmp_path / "llamasize.auto.tfvars.json").write_text(r.out)
    shutil.copy(TF / "variables.tf", tmp_path / "variables.tf")
    names = sorted(variables())
    (tmp_path / "outputs.tf").write_text("".join(f'output "{n}" {{\n  value = var.{n}\n}}\n' for n in names))
    init = terraform(tmp_path, "init", "-input=false")
    assert init.returncode == 0, init.stderr
    assert not (tmp_path / ".terraform" / "providers").exists()  # nothing was downloaded
    applied = terraform(tmp_path, "apply", "-auto-approve", "-input=false")
    assert applied.returncode == 0, applied.stderr
    got = json.loads(terraform(tmp_path, "output", "-json").stdout)
    # terraform output leaves out outputs whose value is null (hf_model when no checkpoint holds the format)
    assert {k: v["value"] for k, v in got.items()} == {k: v for k, v in r.json().items() if v is not None}
    for k, v in got.items():
        declared = variables()[k]["type"]
        if r.json()[k] is not None:
            assert v["type"] == declared, (k, v["type"], declared)


@needs_terraform
def test_main_tf_names_the_providers_terraform_init_downloads(tmp_path):
    """The header of main.tf says which providers ``terraform init`` downloads; ``terraform
    providers`` (which reads the configuration and downloads nothing) agrees."""
    for f in ("main.tf", "variables.tf"):
        shutil.copy(TF / f, tmp_path / f)
    p = terraform(tmp_path, "providers")
    assert p.returncode == 0, p.stderr
    required = set(re.findall(r"provider\[registry\.terraform\.io/([\w-]+/[\w-]+)\]", p.stdout))
    header = (TF / "main.tf").read_text().split("terraform {")[0]
    stated = set(re.findall(r"\b(hashicorp/[\w-]+)\b", header))
    assert required == stated == {"hashicorp/external"}
    assert "terraform init" in header


def test_main_tf_states_its_providers_without_terraform():
    """Without a binary: the providers stated in main.tf's header are those of required_providers."""
    text = (TF / "main.tf").read_text()
    header, body = text.split("terraform {", 1)
    sources = set(re.findall(r'source\s*=\s*"([^"]+)"', body.split("data ")[0]))
    assert sources == set(re.findall(r"\b(hashicorp/[\w-]+)\b", header))


# ----------------------------------------------------------------- github actions: install, compare ---
#: The oldest major of each action the workflow may use (the Node 24 releases).
ACTION_MAJORS = {"actions/checkout": 5, "actions/setup-python": 6, "actions/github-script": 8,
                 "github/codeql-action/upload-sarif": 4}


def test_workflow_actions_are_current_majors():
    steps = workflow()["jobs"]["check"]["steps"]
    used = [s["uses"] for s in steps if "uses" in s]
    assert used
    for u in used:
        name, version = u.split("@")
        assert name in ACTION_MAJORS, u
        assert int(version.lstrip("v").split(".")[0]) >= ACTION_MAJORS[name], u
    assert {u.split("@")[0] for u in used} == set(ACTION_MAJORS)


def test_workflow_installs_llamasize_from_its_repository():
    """Not from a package index it is not on: a wheel built from a checkout of the repository."""
    wf = workflow()
    steps = wf["jobs"]["check"]["steps"]
    source = next(s for s in steps if s.get("uses", "").startswith("actions/checkout")
                  and "repository" in s.get("with", {}))
    path = source["with"]["path"]
    assert path.startswith(".")  # hidden: check's directory walk never reads it
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    lines = [ln.strip() for ln in install["run"].splitlines() if ln.strip()]
    assert lines[0].startswith("python -m pip wheel --no-deps") and lines[0].endswith(f"./{path}")
    assert re.fullmatch(r"python -m pip install \S+/llamasize-\*\.whl", lines[1])
    assert not any(re.search(r"pip install\s+llamasize(\s|$)", ln) for ln in lines)


def test_workflow_compare_step_runs(tmp_path):
    """The compare step's script in a clone whose origin/main is the base: the markdown comment is
    written, starts with the marker the comment step looks for, and the exit status is check's."""
    from llamasize.check.compare import COMMENT_MARKER

    wf = workflow()
    job_env = wf["jobs"]["check"]["env"]
    steps = wf["jobs"]["check"]["steps"]
    step = next(s for s in steps if "--compare" in s.get("run", ""))
    comment = next(s for s in steps if "github-script" in s.get("uses", ""))
    assert f"'{COMMENT_MARKER}'" in comment["with"]["script"] and "llamasize-compare.md" in comment["with"]["script"]
    assert wf["permissions"]["pull-requests"] == "write"
    assert next(s for s in steps if s.get("with", {}).get("fetch-depth") == 0)

    genv = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_SYSTEM=os.devnull, GIT_AUTHOR_NAME="t",
                GIT_AUTHOR_EMAIL="t@example.invalid", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, env=genv, check=True, capture_output=True)

    shutil.copytree(REPO / "examples" / "manifests" / "passing", tmp_path / job_env["MANIFESTS"])
    (tmp_path / ".github").mkdir()
    shutil.copy(GHA / "llamasize-policy.yaml", tmp_path / job_env["POLICY"])
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    git("update-ref", "refs/remotes/origin/main", "HEAD")
    ls = tmp_path / job_env["MANIFESTS"] / "llamasize.yaml"
    ls.write_text(re.sub(r"(\n    gpus: [^\n]*\n)", r"\1    replicas: 2\n", ls.read_text(), count=1))
    summary = tmp_path / "summary.md"
    env = dict(os.environ, **{k: str(v) for k, v in job_env.items()}, GITHUB_ACTIONS="true", GITHUB_BASE_REF="main",
               GITHUB_STEP_SUMMARY=str(summary),
               PATH=f"{shim(tmp_path / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}")
    p = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    md = (tmp_path / "llamasize-compare.md").read_text()
    assert md.startswith(COMMENT_MARKER + "\n") and "| changed |" in md and "/month**" in md
    assert md in summary.read_text()
