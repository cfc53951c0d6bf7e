"""schema: every schema is a valid JSON Schema with schema_version, and the REAL output of each
command validates against it (so a renamed key or a changed type fails here)."""

from __future__ import annotations

import json

import pytest
import yaml
from jsonschema import Draft202012Validator

from conftest import REPO, RUN_ARGS, SHARED
from llamasize import SCHEMA_VERSION
from llamasize.schema import SCHEMAS

OUTPUTS = {
    "plan": ("plan", "--model", "maverick", "--quant", "int4", "--ctx", "1M", "--format", "json"),
    "plan-nothing-fits": ("plan", "--model", "maverick", "--quant", "bf16", "--ctx", "10M", "--gpu", "l4",
                          "--max-nodes", "1", "--format", "json"),
    "fit": ("fit", "--model", "scout", "--gpu", "h100", "--quant", "int4_mixed", "--ctx", "8K", "--format", "json"),
    "fit-behemoth": ("fit", "--model", "behemoth", "--gpu", "h100", "--gpus", "8", "--quant", "int4", "--ctx", "8K",
                     "--format", "json"),
    "params": ("params", "maverick", "--format", "json"),
    "perf": ("perf", "--model", "scout", "--gpu", "h100", "--quant", "int4_mixed", "--format", "json"),
    "cost": ("cost", "--model", "scout", "--gpu", "h100", "--options", "1", "--format", "json"),
    "sweep": ("sweep", "--model", "scout", "--quant", "int4", "--ctx", "8K,1M", "--gpu", "h100", "--format", "json"),
    "check": ("check", "examples/manifests", "--format", "json"),
    "check-passing": ("check", "examples/manifests/passing", "--format", "json", "--max-usd-per-hour", "100"),
    "tfvars": ("plan", "--model", "maverick", "--quant", "int4", "--ctx", "1M", "--format", "tfvars"),
    "detect": ("detect", "--format", "json"),
    "run": RUN_ARGS,  # the session's shared run (and verify's JSON is validated in test_verify.py)
}


def schema_of(cli, name: str) -> dict:
    r = cli("schema", name)
    assert r.code == 0, r.err
    return r.json()


def test_schema_lists_every_name(cli):
    r = cli("schema")
    assert r.code == 0
    assert [line.split()[0] for line in r.out.splitlines()] == list(SCHEMAS)


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_every_schema_is_valid_and_versioned(cli, name):
    s = schema_of(cli, name)
    Draft202012Validator.check_schema(s)
    assert s["schema_version"] == SCHEMA_VERSION
    assert s["$schema"].endswith("/draft/2020-12/schema")
    assert s["type"] == "object"


@pytest.mark.parametrize("case", sorted(OUTPUTS))
def test_real_output_validates(cli, shared_run, monkeypatch, case):
    monkeypatch.chdir(REPO)
    r = shared_run(*OUTPUTS[case]) if OUTPUTS[case] in SHARED else cli(*OUTPUTS[case])
    assert r.code in (0, 1, 3), r.err
    name = case.split("-")[0] if case != "check-passing" else "check"
    if case == "tfvars":
        name = "tfvars"
    validator = Draft202012Validator(schema_of(cli, name))
    errors = sorted(validator.iter_errors(r.json()), key=str)
    assert not errors, errors[0]


def test_terraform_external_output_validates(cli):
    r = cli("terraform-external", stdin=json.dumps({"model": "scout", "quant": "int4_mixed", "ctx": "8K"}))
    assert r.code == 0, r.err
    s = schema_of(cli, "terraform-external")
    Draft202012Validator(s).validate(r.json())
    assert all(p.get("type") == "string" for p in s["properties"].values())
    assert s["additionalProperties"] is False


def test_schema_catches_a_wrong_type(cli, monkeypatch):
    """The validation above can fail: a real report with one value changed does not validate."""
    monkeypatch.chdir(REPO)
    d = cli("check", "examples/manifests/failing", "--format", "json").json()
    d["findings"][0]["line"] = "twelve"
    assert list(Draft202012Validator(schema_of(cli, "check")).iter_errors(d))


def test_input_schemas_accept_the_examples(cli):
    manifest = Draft202012Validator(schema_of(cli, "llamasize.yaml"))
    for path in sorted((REPO / "examples" / "manifests").glob("*/llamasize.yaml")):
        manifest.validate(yaml.safe_load(path.read_text()))
    policy = Draft202012Validator(schema_of(cli, "policy"))
    policy.validate(yaml.safe_load((REPO / "examples" / "github-actions" / "llamasize-policy.yaml").read_text()))
    assert list(policy.iter_errors({"max_usd": 3}))  # unknown keys are rejected


def test_unknown_schema_is_a_usage_error(cli):
    r = cli("schema", "plans")
    assert r.code == 2 and r.out == "" and "unknown schema 'plans'" in r.err
