"""registry: bundled specs and catalogue, lookups, user directories, clashes and bad data files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from llamasize.errors import DataError, UnknownIdError
from llamasize.data.registry import load_registry
from llamasize.files import bundled_dir

MODEL_IDS = [
    "llama4-scout", "llama4-maverick", "llama4-behemoth", "llama3.1-8b", "llama3.1-70b", "llama3.1-405b",
    "llama3.3-70b", "mixtral-8x7b", "mixtral-8x22b", "deepseek-v3", "qwen3-30b-a3b", "qwen3-235b-a22b",
    "gpt-oss-20b", "gpt-oss-120b", "micro-moe",
]
GPU_IDS = [
    "h100-sxm", "h100-pcie", "h100-nvl", "h200", "b200", "a100-sxm-80gb", "a100-pcie-40gb", "a100-pcie-80gb",
    "l40s", "l4", "rtx-4090", "rtx-5090", "mi300x", "mi325x",
]


def _bundled_yaml(kind: str, name: str) -> dict:
    return yaml.safe_load((bundled_dir(kind) / f"{name}.yaml").read_text())


def _user_model(tmp: Path, id_: str = "my-model", aliases=("mine",), filename: str | None = None) -> Path:
    data = _bundled_yaml("model_specs", "llama3.1-8b")
    data.update(id=id_, name=f"user {id_}", aliases=list(aliases), hf_names=[])
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / (filename or f"{id_}.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def _user_gpu(tmp: Path, id_: str = "my-gpu", aliases=("mygpu",), drop: str | None = None) -> Path:
    data = _bundled_yaml("hardware_catalog", "h100-sxm")
    data.update(id=id_, name=f"user {id_}", aliases=list(aliases), nvml_names=[], gfd_products=[])
    if drop:
        data.pop(drop)
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"{id_}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# ----------------------------------------------------------------------------- bundled data ---
def test_every_required_model_is_bundled(registry):
    ids = {m.id for m in registry.models}
    assert set(MODEL_IDS) <= ids


def test_every_required_gpu_is_bundled(registry):
    ids = {g.id for g in registry.gpus}
    assert set(GPU_IDS) <= ids


def test_h100_memory_is_what_cuda_reports(registry):
    # docs/design.md rules 5 and 9: vLLM budgets what CUDA reports, 79.19 GiB for an H100 80GB (nvidia-smi's
    # 81,559 MiB includes the driver's reservation); docs/facts/hardware-memory.md 1a
    h = registry.gpu("h100-sxm")
    assert h.memory_bytes == round(79.19 * 2**30)
    assert h.memory.basis == "cuda_total" and h.memory.flag is None
    assert h.memory_bytes < 81_559 * 2**20


def test_h200_memory_is_what_cuda_reports(registry):
    # docs/facts/hardware-memory.md 1a: deviceQuery on an H200, 150021734400 bytes (nvidia-smi: 143,771 MiB)
    assert registry.gpu("h200").memory_bytes == 150_021_734_400


@pytest.mark.parametrize(
    "gpu, mem_gb, bw_gb_s, bf16, fp8, fp8_native, fp4_native",
    [  # docs/facts/hardware.md 4 (dense TFLOPS; None = no FP8 on the device)
        ("h100-sxm", 80, 3350, 989, 1979, True, False),
        ("h100-pcie", 80, 2000, 756, 1513, True, False),
        ("h200", 141, 4800, 989, 1979, True, False),
        ("b200", 180, 8000, 2250, 4500, True, True),
        ("a100-sxm-80gb", 80, 2039, 312, None, False, False),
        ("a100-pcie-40gb", 40, 1555, 312, None, False, False),
        ("a100-pcie-80gb", 80, 1935, 312, None, False, False),
        ("l40s", 48, 864, 362, 733, True, False),
        ("mi300x", 192, 5300, 1307.4, 2614.9, True, False),
        ("rtx-4090", 24, 1008, 165.2, 330.3, True, False),
    ],
)
def test_catalogue_matches_datasheet_facts(registry, gpu, mem_gb, bw_gb_s, bf16, fp8, fp8_native, fp4_native):
    g = registry.gpu(gpu)
    assert g.memory.datasheet_gb == mem_gb
    assert g.memory_bandwidth_gb_per_s == bw_gb_s
    assert g.flops.bf16 == bf16
    assert g.flops.fp8 == fp8
    assert (g.native.fp8, g.native.fp4) == (fp8_native, fp4_native)
    if g.memory.basis == "binary_capacity":
        assert g.memory_bytes == mem_gb * 2**30  # 80 GB HBM2e = 80 GiB (flagged upper bound)


def test_gpu_entries_are_complete(registry):
    for g in registry.gpus:
        assert g.memory_bytes > 0, g.id
        assert g.gpus_per_node >= 1, g.id
        assert isinstance(g.native.fp8, bool) and isinstance(g.native.fp4, bool)
        price = g.default_price()
        if price is None:
            # unknown prices are null with a note, never made up
            assert any("price" in n.lower() for n in g.notes), g.id
        else:
            assert price.usd_per_gpu_hour > 0 and price.source and price.as_of, g.id


def test_native_formats_follow_architecture(registry):
    assert not registry.gpu("a100").native.fp8  # Ampere: no FP8
    assert registry.gpu("h100").native.fp8 and not registry.gpu("h100").native.fp4
    assert registry.gpu("b200").native.fp4


# ---------------------------------------------------------------------------------- lookups ---
@pytest.mark.parametrize(
    "name, expected",
    [("scout", "llama4-scout"), ("maverick", "llama4-maverick"), ("behemoth", "llama4-behemoth"),
     ("SCOUT", "llama4-scout"), ("Maverick", "llama4-maverick"), (" scout ", "llama4-scout"),
     ("LLAMA4-SCOUT", "llama4-scout")],
)
def test_model_aliases(registry, name, expected):
    assert registry.model(name).id == expected


@pytest.mark.parametrize(
    "name, expected",
    [("h100", "h100-sxm"), ("a100", "a100-sxm-80gb"), ("4090", "rtx-4090"), ("H100", "h100-sxm"),
     ("A100", "a100-sxm-80gb"), ("RTX-4090", "rtx-4090"), ("h200", "h200")],
)
def test_gpu_aliases(registry, name, expected):
    assert registry.gpu(name).id == expected


def test_gpu_by_nvml_name(registry):
    assert registry.gpu("NVIDIA GeForce RTX 4090").id == "rtx-4090"


@pytest.mark.parametrize("name, suggestion", [("scuot", "llama4-scout"), ("mavrick", "llama4-maverick")])
def test_unknown_model_suggests(registry, name, suggestion):
    with pytest.raises(UnknownIdError) as ei:
        registry.model(name)
    msg = str(ei.value)
    assert f"unknown model '{name}'" in msg
    assert f"did you mean '{suggestion}'" in msg


def test_unknown_gpu_suggests(registry):
    with pytest.raises(UnknownIdError, match="did you mean 'h100-sxm'"):
        registry.gpu("h1000")


def test_no_substring_guessing(registry):
    # aliases are declared, never guessed by substring
    for name in ("scou", "llama4", "llama", "h1", "xyzzy-unknown"):
        with pytest.raises(UnknownIdError):
            registry.model(name)


def test_ids_and_aliases_unique(registry):
    seen = {}
    for m in registry.models:
        for n in m.all_names():
            assert n.lower() not in seen, (n, seen.get(n.lower()), m.id)
            seen[n.lower()] = m.id


# ------------------------------------------------------------------------- user directories ---
def test_user_spec_dir_via_argument_is_merged(tmp_path):
    _user_model(tmp_path / "specs")
    reg = load_registry(spec_dirs=[tmp_path / "specs"])
    assert reg.model("mine").id == "my-model"
    assert reg.model("scout").id == "llama4-scout"  # bundled still there
    assert reg.model_origin("my-model") == tmp_path / "specs" / "my-model.yaml"


def test_user_spec_dirs_via_env_var_are_merged(tmp_path, monkeypatch):
    _user_model(tmp_path / "a", "model-a", ("ma",))
    _user_model(tmp_path / "b", "model-b", ("mb",))
    monkeypatch.setenv("LLAMASIZE_SPECS_PATH", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    reg = load_registry()
    assert reg.model("ma").id == "model-a"
    assert reg.model("mb").id == "model-b"
    assert reg.model("maverick").id == "llama4-maverick"


def test_env_and_flag_dirs_combine(tmp_path, monkeypatch):
    _user_model(tmp_path / "env", "model-env", ("me",))
    _user_model(tmp_path / "flag", "model-flag", ("mf",))
    monkeypatch.setenv("LLAMASIZE_SPECS_PATH", str(tmp_path / "env"))
    reg = load_registry(spec_dirs=[tmp_path / "flag"])
    assert {"model-env", "model-flag", "llama4-scout"} <= {m.id for m in reg.models}


def test_user_catalog_dir_via_argument_and_env(tmp_path, monkeypatch):
    _user_gpu(tmp_path / "cat1", "gpu-one", ("g1",))
    _user_gpu(tmp_path / "cat2", "gpu-two", ("g2",))
    monkeypatch.setenv("LLAMASIZE_CATALOG_PATH", str(tmp_path / "cat1"))
    reg = load_registry(catalog_dirs=[tmp_path / "cat2"])
    assert reg.gpu("g1").id == "gpu-one"
    assert reg.gpu("g2").id == "gpu-two"
    assert reg.gpu("h100").id == "h100-sxm"


def test_same_directory_twice_is_not_a_clash(tmp_path, monkeypatch):
    _user_model(tmp_path / "specs")
    monkeypatch.setenv("LLAMASIZE_SPECS_PATH", str(tmp_path / "specs"))
    reg = load_registry(spec_dirs=[tmp_path / "specs"])
    assert reg.model("mine").id == "my-model"


@pytest.mark.parametrize(
    "id_, aliases, clashing",
    [("llama4-scout", ("x-scout",), "llama4-scout"), ("my-scout", ("scout",), "scout"),
     ("my-scout2", ("SCOUT",), "SCOUT")],
)
def test_clash_with_bundled_names_both_files(tmp_path, id_, aliases, clashing):
    user = _user_model(tmp_path / "specs", id_, aliases, filename="clash.yaml")
    with pytest.raises(DataError) as ei:
        load_registry(spec_dirs=[tmp_path / "specs"])
    msg = str(ei.value)
    assert str(user) in msg
    assert "llama4-scout.yaml" in msg
    assert clashing in msg


def test_clash_between_two_user_dirs(tmp_path):
    a = _user_model(tmp_path / "a", "dup-model", ("d1",))
    b = _user_model(tmp_path / "b", "dup-model", ("d2",))
    with pytest.raises(DataError) as ei:
        load_registry(spec_dirs=[tmp_path / "a", tmp_path / "b"])
    assert str(a) in str(ei.value) and str(b) in str(ei.value)


def test_gpu_clash_is_an_error(tmp_path):
    user = _user_gpu(tmp_path / "cat", "my-h100", ("h100",))
    with pytest.raises(DataError) as ei:
        load_registry(catalog_dirs=[tmp_path / "cat"])
    assert str(user) in str(ei.value) and "h100-sxm.yaml" in str(ei.value)


# ---------------------------------------------------------------------------- bad data files ---
def _write(tmp: Path, name: str, text: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    p = tmp / name
    p.write_text(text)
    return p


def _spec_text(**changes) -> str:
    data = _bundled_yaml("model_specs", "llama3.1-8b")
    data.update(id="bad-model", name="bad", aliases=[], hf_names=[])
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("id: [unclosed\nname: x\n", "malformed YAML"),
        ("- just\n- a list\n", "mapping"),
        ("", "mapping"),
        ("42\n", "mapping"),
        (_spec_text(name=None), "name"),
        (_spec_text(surprise_key=3), "surprise_key"),
        (_spec_text(hidden_size=-4096), "hidden_size"),
        (_spec_text(num_hidden_layers=0), "num_hidden_layers"),
        (_spec_text(hidden_size="big"), "hidden_size"),
    ],
)
def test_bad_spec_files_are_data_errors_naming_the_file(tmp_path, text, fragment):
    p = _write(tmp_path / "specs", "bad.yaml", text)
    with pytest.raises(DataError) as ei:
        load_registry(spec_dirs=[tmp_path / "specs"])
    msg = str(ei.value)
    assert str(p) in msg
    assert fragment in msg
    assert "\n" not in msg


def test_unknown_key_is_called_unknown(tmp_path):
    _write(tmp_path / "specs", "bad.yaml", _spec_text(surprise_key=3))
    with pytest.raises(DataError, match="surprise_key: unknown key"):
        load_registry(spec_dirs=[tmp_path / "specs"])


def test_missing_key_is_called_missing(tmp_path):
    _write(tmp_path / "specs", "bad.yaml", _spec_text(family=None))
    with pytest.raises(DataError, match="family: required key missing"):
        load_registry(spec_dirs=[tmp_path / "specs"])


@pytest.mark.parametrize("field", ["memory", "flops", "interconnect", "gpus_per_node", "vendor"])
def test_catalogue_entry_missing_a_field(tmp_path, field):
    p = _user_gpu(tmp_path / "cat", "half-gpu", ("hg",), drop=field)
    with pytest.raises(DataError) as ei:
        load_registry(catalog_dirs=[tmp_path / "cat"])
    assert str(p) in str(ei.value)
    assert field in str(ei.value)


def test_catalogue_negative_memory(tmp_path):
    data = _bundled_yaml("hardware_catalog", "h100-sxm")
    data.update(id="neg-gpu", aliases=[], nvml_names=[], gfd_products=[])
    data["memory"]["datasheet_gb"] = -80
    p = _write(tmp_path / "cat", "neg.yaml", yaml.safe_dump(data))
    with pytest.raises(DataError) as ei:
        load_registry(catalog_dirs=[tmp_path / "cat"])
    assert str(p) in str(ei.value) and "datasheet_gb" in str(ei.value)


def test_not_utf8(tmp_path):
    p = tmp_path / "specs" / "bin.yaml"
    p.parent.mkdir()
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="UTF-8"):
        load_registry(spec_dirs=[p.parent])


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="not a directory"):
        load_registry(spec_dirs=[tmp_path / "nope"])


def test_non_yaml_files_are_ignored(tmp_path):
    _write(tmp_path / "specs", "README.md", "# not a spec: {[")
    _user_model(tmp_path / "specs")
    reg = load_registry(spec_dirs=[tmp_path / "specs"])
    assert reg.model("mine").id == "my-model"
