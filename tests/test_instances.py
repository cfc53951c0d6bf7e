"""Cloud instance types (hardware_catalog/instances/, docs/facts/hardware-memory.md section 3): they resolve to
their GPU x count in fit, plan and check, and a wrong mapping or an unknown name is a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from llamasize.data.registry import load_registry
from llamasize.errors import DataError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, gpu, count", [  # docs/facts/hardware-memory.md 3.1-3.3
    ("g5.xlarge", "a10g", 1), ("g5.12xlarge", "a10g", 4), ("p5.48xlarge", "h100-sxm", 8),
    ("p4d.24xlarge", "a100-sxm-40gb", 8), ("p4de.24xlarge", "a100-sxm-80gb", 8), ("p5en.48xlarge", "h200", 8),
    ("p6-b300.48xlarge", "b300", 8), ("g4dn.metal", "t4", 8), ("a3-highgpu-8g", "h100-sxm", 8),
    ("a2-megagpu-16g", "a100-sxm-40gb", 16), ("g2-standard-24", "l4", 2), ("a4x-highgpu-4g", "gb200", 4),
    ("Standard_ND96isr_H100_v5", "h100-sxm", 8), ("standard_nd96isr_h100_v5", "h100-sxm", 8),
    ("Standard_NC40ads_H100_v5", "h100-nvl", 1), ("Standard_NC24ads_A100_v4", "a100-pcie-80gb", 1),
])
def test_instance_resolves_to_its_gpu(registry, name, gpu, count):
    inst = registry.instance(name)
    assert inst is not None and inst.gpu.id == gpu and inst.spec.gpus == count
    g = registry.gpu(name)
    assert g.id == gpu and g.gpus_per_node == count  # one node is one instance


def test_every_provider_is_covered(registry):
    providers = {i.provider for i in registry.instances}
    assert providers == {"aws", "gcp", "azure"}
    assert len(registry.instances) >= 100


def test_fit_defaults_gpus_to_the_instance(cli):
    d = cli("fit", "--model", "llama3.1-70b", "--gpu", "p5.48xlarge", "--ctx", "8K", "-f", "json")
    assert d.code == 0 and "p5.48xlarge" in d.err and "8 x h100-sxm" in d.err
    j = d.json()
    assert (j["gpu"], j["gpu_count"], j["gpus_per_node"], j["nodes"]) == ("h100-sxm", 8, 8, 1)


def test_fit_more_gpus_means_more_instances(cli):
    j = cli("fit", "--model", "llama3.1-70b", "--gpu", "g5.12xlarge", "--gpus", "8", "--ctx", "8K",
            "-f", "json").json()
    # two g5.12xlarge (4 A10G each) are two nodes, not one 8-GPU node
    assert (j["gpu"], j["gpu_count"], j["gpus_per_node"], j["nodes"]) == ("a10g", 8, 4, 2)


def test_fit_fewer_gpus_than_the_instance_is_allowed(cli):
    j = cli("fit", "--model", "llama3.1-8b", "--gpu", "p5.48xlarge", "--gpus", "2", "--ctx", "8K",
            "-f", "json").json()
    assert j["gpu_count"] == 2 and j["nodes"] == 1


def test_fit_partial_instances_is_one_line_error(cli):
    r = cli("fit", "--model", "llama3.1-70b", "--gpu", "p5.48xlarge", "--gpus", "12", "--ctx", "8K")
    assert r.code == 2 and r.out == ""
    err = [x for x in r.err.splitlines() if "error" in x]
    assert len(err) == 1 and "not a whole number of p5.48xlarge instances (8 GPUs each)" in err[0]


def test_unknown_instance_suggests_the_closest(cli):
    r = cli("fit", "--model", "llama3.1-8b", "--gpu", "p5.48xlargee", "--ctx", "8K")
    assert r.code == 2
    assert r.err.strip().splitlines() == [
        "llamasize: error: unknown gpu 'p5.48xlargee'; did you mean 'p5.48xlarge'? (see 'llamasize gpus')"]


def test_plan_searches_the_instance_gpu(cli):
    # BF16 Llama 3.1 70B (131 GiB of weights) needs 4 L40S: one g6e.12xlarge
    j = cli("plan", "--model", "llama3.1-70b", "--quant", "bf16", "--ctx", "8K", "--gpu", "g6e.12xlarge",
            "-f", "json").json()
    rec = j["recommendation"]
    assert rec["gpu"] == "l40s" and rec["gpu_count"] == 4 and rec["nodes"] == 1
    for option in j["alternatives"] + [rec]:
        assert option["gpu"] == "l40s"


def test_gpus_lists_instances(cli):
    rows = {r["id"]: r for r in cli("gpus", "--instances", "-f", "json").json()["instances"]}
    p5 = rows["p5.48xlarge"]
    assert (p5["provider"], p5["gpu"], p5["gpus"], p5["karpenter_gpu_name"]) == ("aws", "h100-sxm", 8, "h100")
    assert p5["provider_gpu_memory_bytes"] == 81920 * 2**20  # EC2 API, a cross-check only
    assert p5["gpu_memory_bytes"] == round(79.19 * 2**30)  # what is budgeted
    assert rows["a3-megagpu-8g"]["gke_accelerator"] == "nvidia-h100-mega-80gb"
    table = cli("gpus", "--instances").out
    assert "p5.48xlarge" in table and "a3-highgpu-8g" in table


MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: llama8b
spec:
  template:
    spec:
      {selector}
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.10.1
          command: ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192"]
          resources:
            limits:
              nvidia.com/gpu: "1"
"""


@pytest.mark.parametrize("selector, gpus", [
    ("nodeSelector: {node.kubernetes.io/instance-type: g5.xlarge}", ["a10g"]),
    ("nodeSelector: {node.kubernetes.io/instance-type: Standard_NC4as_T4_v3}", ["t4"]),
    ("nodeSelector: {cloud.google.com/gke-accelerator: nvidia-tesla-t4}", ["t4"]),
    ("nodeSelector: {karpenter.k8s.aws/instance-gpu-name: l40s}", ["l40s"]),
    ("nodeSelector: {karpenter.k8s.aws/instance-gpu-name: a100}", ["a100-sxm-40gb", "a100-sxm-80gb"]),
    ("nodeSelector: {nvidia.com/gpu.product: NVIDIA-A10G-SHARED}", ["a10g"]),
    # the instance type pins which A100 Karpenter's 'a100' is
    ("nodeSelector: {karpenter.k8s.aws/instance-gpu-name: a100, node.kubernetes.io/instance-type: p4d.24xlarge}",
     ["a100-sxm-40gb"]),
    ("affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
     "[{matchExpressions: [{key: karpenter.k8s.aws/instance-gpu-name, operator: In, values: [l4, a10g]}]}]}}}",
     ["l4", "a10g"]),
    ("affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
     "[{matchExpressions: [{key: node.kubernetes.io/instance-type, operator: In, values: [a3-highgpu-1g]}]}]}}}",
     ["h100-sxm"]),
])
def test_check_resolves_node_labels(cli, tmp_path, selector, gpus):
    p = tmp_path / "m.yaml"
    p.write_text(MANIFEST.format(selector=selector))
    j = cli("check", str(p), "-f", "json").json()
    (d,) = j["deployments"]
    assert d["gpus"] == gpus
    assert d["fits"] is not None and not any(f["rule_id"] == "LS010" for f in j["findings"])


def test_check_unknown_instance_type_is_reported(cli, tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text(MANIFEST.format(selector="nodeSelector: {node.kubernetes.io/instance-type: g5.9xlarge}"))
    j = cli("check", str(p), "-f", "json").json()
    msgs = [f["message"] for f in j["findings"] if f["rule_id"] == "LS010"]
    assert len(msgs) == 1 and "g5.9xlarge matches no GPU" in msgs[0]


def test_check_mig_product_is_not_a_gpu(cli, tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text(MANIFEST.format(selector="nodeSelector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-40GB-MIG-3g.20gb}"))
    j = cli("check", str(p), "-f", "json").json()
    msgs = [f["message"] for f in j["findings"] if f["rule_id"] == "LS010"]
    assert len(msgs) == 1 and "MIG slice" in msgs[0]


def test_check_instance_type_sets_the_node_size(registry):
    from llamasize.check.resolve import CatalogIndex

    index = CatalogIndex(registry)
    (g,) = index.gpu("instance-type", "g5.12xlarge")
    assert (g.id, g.gpus_per_node) == ("a10g", 4)
    (k,) = index.gpu("karpenter-gpu-name", "a10g")  # a GPU name: the catalogue entry as it is
    assert (k.id, k.gpus_per_node) == ("a10g", registry.gpu("a10g").gpus_per_node)


def _user_catalog(tmp_path: Path, instance: dict) -> Path:
    d = tmp_path / "cat" / "instances"
    d.mkdir(parents=True)
    (d / "mine.yaml").write_text(yaml.safe_dump({"provider": "aws", "source": "test", "instances": [instance]}))
    return d.parent


def test_user_instance_file_is_loaded(tmp_path):
    cat = _user_catalog(tmp_path, {"id": "my.8xh200", "gpu": "h200", "gpus": 8, "source": "mine",
                                   "gpu_memory": {"value": 141, "unit": "GB", "per": "gpu"}})
    reg = load_registry(catalog_dirs=[cat])
    assert reg.gpu("my.8xh200").id == "h200" and reg.instance("my.8xh200").spec.gpus == 8


@pytest.mark.parametrize("instance, message", [
    ({"id": "x.big", "gpu": "a100-sxm-80gb", "gpus": 8, "source": "s",
      "gpu_memory": {"value": 40960, "unit": "MiB", "per": "gpu"}}, "40.0 GiB per GPU as printed does not match"),
    ({"id": "x.big", "gpu": "nope", "gpus": 8, "source": "s"}, "names GPU 'nope', which is not in the catalogue"),
    ({"id": "p5.48xlarge", "gpu": "h100-sxm", "gpus": 8, "source": "s"}, "already defined"),
    ({"id": "x.big", "gpu": "l4", "gpus": 1, "accelerator": "nvidia-tesla-t4", "source": "s"},
     "is not one of l4's gke_accelerators"),
])
def test_bad_user_instance_is_a_data_error(tmp_path, instance, message):
    cat = _user_catalog(tmp_path, instance)
    with pytest.raises(DataError) as e:
        load_registry(catalog_dirs=[cat])
    assert message in str(e.value) and "mine.yaml" in str(e.value)


def test_bundled_instance_memory_matches_its_gpu(registry):
    # the cross-check runs at load time; here: every instance that prints memory was checked and is
    # within 10 % of its GPU's capacity (decimal GB .. binary GiB)
    printed = [i for i in registry.instances if i.spec.gpu_memory is not None]
    assert len(printed) >= 90
    for i in printed:
        per_gpu = i.spec.gpu_memory.per_gpu_bytes(i.spec.gpus)
        gb = i.gpu.memory.datasheet_gb
        assert 0.9 * gb * 1e9 <= per_gpu <= 1.1 * gb * 2**30, i.spec.id


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.integers(min_value=0, max_value=102), st.integers(min_value=1, max_value=200))
def test_gpu_count_rule_holds_for_every_instance(i, n):
    # --gpus with an instance type: at most its count, or whole instances; anything else a UsageError
    from llamasize.cli.inputs import instance_gpu_count
    from llamasize.errors import UsageError

    reg = load_registry()
    inst = reg.instances[i % len(reg.instances)]
    k = inst.spec.gpus
    assert instance_gpu_count(reg, inst.spec.id, None) == k
    if n <= k or n % k == 0:
        assert instance_gpu_count(reg, inst.spec.id, str(n)) == n
    else:
        with pytest.raises(UsageError):
            instance_gpu_count(reg, inst.spec.id, str(n))
