"""JSON Schemas of llamasize's documents, generated from the pydantic models that produce them.

Outputs (``mode="serialization"``): ``plan``, ``fit``, ``params``, ``perf``, ``cost``, ``sweep``, ``plan-slo``,
``frontier``,
``check``, ``check-compare``, ``detect``, ``verify``, ``run``, ``calibrate``, ``terraform-external`` and ``tfvars``. Inputs (``mode="validation"``): ``llamasize.yaml``
(check's own manifest format) and ``policy`` (``check --policy``). ``models`` and ``gpus`` print
plain dicts built in ``render`` and have no schema yet.
"""

from __future__ import annotations

import importlib

from llamasize import SCHEMA_VERSION
from llamasize.errors import UsageError
from llamasize.text import quote_value

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: name -> (module, model class, mode, what it describes)
SCHEMAS: dict[str, tuple[str, str, str, str]] = {
    "plan": ("llamasize.plan.results", "PlanResult", "serialization", "llamasize plan --format json"),
    "fit": ("llamasize.estimate.memory", "FitEstimate", "serialization", "llamasize fit --format json"),
    "params": ("llamasize.estimate.params", "ParamBreakdown", "serialization", "llamasize params --format json"),
    "perf": ("llamasize.estimate.perf", "PerfEstimate", "serialization", "llamasize perf --format json"),
    "cost": ("llamasize.plan.cost", "CostReport", "serialization", "llamasize cost --format json"),
    "sweep": ("llamasize.plan.sweep", "SweepResult", "serialization", "llamasize sweep --format json"),
    "plan-slo": ("llamasize.plan.results", "SloPlanResult", "serialization",
                 "llamasize plan --max-ttft/--max-tpot --qps --format json"),
    "frontier": ("llamasize.plan.frontier", "FrontierResult", "serialization", "llamasize frontier --format json"),
    "check": ("llamasize.check.report", "CheckReport", "serialization", "llamasize check --format json"),
    "check-compare": ("llamasize.check.compare", "CompareReport", "serialization",
                      "llamasize check --compare BASE --format json"),
    "detect": ("llamasize.runtime.detect", "DetectedDevices", "serialization", "llamasize detect --format json"),
    "verify": ("llamasize.verify", "VerifyReport", "serialization", "llamasize verify --format json"),
    "run": ("llamasize.runtime.generate", "RunResult", "serialization", "llamasize run --format json"),
    "calibrate": ("llamasize.estimate.log_report", "LogCalibrationReport", "serialization",
                  "llamasize calibrate --from-log FILE --format json"),
    "terraform-external": ("llamasize.integrations.terraform", "TerraformExternalResult", "serialization",
                           "stdout of llamasize terraform-external (Terraform's external data source)"),
    "tfvars": ("llamasize.integrations.terraform", "TfvarsOutput", "serialization",
               "llamasize plan --format tfvars (a *.auto.tfvars.json file)"),
    "llamasize.yaml": ("llamasize.check.report", "ManifestFile", "validation",
                       "input: a llamasize.yaml deployment file read by llamasize check"),
    "policy": ("llamasize.check.report", "Policy", "validation", "input: a llamasize check --policy file"),
}


def schema_names() -> list[str]:
    """Every schema name, in a stable order."""
    return list(SCHEMAS)


def json_schema(name: str) -> dict:
    """The JSON Schema (draft 2020-12) of one document, with ``schema_version``."""
    key = name.strip().lower()
    if key not in SCHEMAS:
        raise UsageError(f"unknown schema {quote_value(name)} (choices: {', '.join(SCHEMAS)})")
    module, cls, mode, what = SCHEMAS[key]
    model = getattr(importlib.import_module(module), cls)
    body = model.model_json_schema(mode=mode)
    return {"$schema": JSON_SCHEMA_DIALECT, "schema_version": SCHEMA_VERSION, "$comment": what, **body}
