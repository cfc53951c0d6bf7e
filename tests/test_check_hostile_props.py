"""Property test (hypothesis, seeded): whatever the names and label values of two Helm ``modelSpec``
entries (newlines, ESC, bidi overrides, ``|``, ``%``, quotes, twins), every format of ``check``
shows exactly the JSON's findings, each once, with nothing raw that could forge a line."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from llamasize.check.formats import render_check
from llamasize.check.report import CheckOptions
from llamasize.check.run import check_paths
from test_check_hostile import FORMATS, _ids_in_order, parse_output

ALPHABET = list("ab m#2-_./:,%|`'\"\\") + ["\n", "\r", "\t", "\x1b", "\x07", "\x7f", "\x85", "\u202e", "\u2066",
                                           "\u2028", "\u200b", "\u00e9", "\u4e2d"]
names = st.text(ALPHABET, min_size=0, max_size=12)


def helm(a: str, b: str, gpu: str, ctx: str) -> str:
    """Two modelSpec entries (json.dumps strings are YAML double-quoted scalars)."""
    entry = ("    - name: {name}\n      modelURL: meta-llama/Llama-3.1-8B-Instruct\n      requestGPU: 1\n"
             "      vllmConfig: {{maxModelLen: {ctx}}}\n      nodeSelectorTerms:\n        - matchExpressions:\n"
             "            - key: nvidia.com/gpu.product\n              operator: In\n              values: [{gpu}]\n")
    first = entry.format(name=json.dumps(a), ctx=json.dumps(ctx), gpu=json.dumps(gpu))
    return "servingEngineSpec:\n  modelSpec:\n" + first + entry.format(name=json.dumps(b), ctx="131072",
                                                                      gpu='"NVIDIA-L4"')


@seed(20261201)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=names, b=st.one_of(names, st.just(None)), gpu=st.one_of(names, st.just("NVIDIA-H100-80GB-HBM3")),
       ctx=st.one_of(names, st.just("8192")))
def test_every_format_shows_the_json_findings(tmp_path, registry, a, b, gpu, ctx):
    b = a if b is None else b  # twins about half of the time
    (tmp_path / "values.yaml").write_text(helm(a, b, gpu, ctx), encoding="utf-8")
    report = check_paths([str(tmp_path / "values.yaml")], registry, CheckOptions(cwd=tmp_path))
    data = json.loads(render_check(report, "json"))
    ids = _ids_in_order(data)
    assert len(set(d["id"] for d in data["deployments"])) == len(data["deployments"]) == 2
    shown = dict(zip([d["id"] for d in data["deployments"]], ids))
    expected = sorted((f["rule_id"], f["line"], shown[f["deployment"]] if f["deployment"] else None, f["message"])
                      for f in data["findings"])
    for fmt in FORMATS:
        assert parse_output(render_check(report, fmt), fmt, "values.yaml", ids, data) == expected, fmt
