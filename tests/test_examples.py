"""examples/: the Terraform module (both routes) and the GitHub Actions workflow, exercised the way
Terraform and GitHub run them. The manifests are exercised by test_check.py. There is no terraform
binary here: the HCL is read with regular expressions and the external program is run as the
external provider runs it (no shell, the query on stdin, no extra arguments)."""

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
