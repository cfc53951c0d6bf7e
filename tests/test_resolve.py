"""The one model resolution order (llamasize.data.resolve, data.hfcache): every command takes a registry
id, a Hugging Face repository id the registry lists, one in the local HF cache (a fake cache tree built
here), a directory, a config.json; revisions, broken caches and the "what was tried" error; no network.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

# A tiny Llama-style config (the test's own numbers): the count below is derived from them by hand.
H, LAYERS, HEADS, KV, HEAD_DIM, FFN, VOCAB = 256, 2, 4, 2, 64, 512, 1000
TINY = {"model_type": "llama", "hidden_size": H, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": KV, "head_dim": HEAD_DIM, "intermediate_size": FFN, "vocab_size": VOCAB,
        "max_position_embeddings": 32768, "torch_dtype": "bfloat16", "tie_word_embeddings": False}
#: embedding + lm_head + per layer (q, k, v, o; gate, up, down; 2 norms) + the final norm
TINY_PARAMS = (2 * VOCAB * H + LAYERS * (H * HEADS * HEAD_DIM * 2 + 2 * H * KV * HEAD_DIM + 3 * H * FFN + 2 * H) + H)
COMMIT_A, COMMIT_B = "a" * 40, "0123456789abcdef0123456789abcdef01234567"
REPO_ID = "example-org/Tiny-Llama"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any socket use in-process fails the test: resolution never touches the network."""
    def refuse(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def make_cache(hub: Path, repo_id: str = REPO_ID, configs: dict | None = None, refs: dict | None = None) -> Path:
    """A Hugging Face cache tree as huggingface_hub writes it: blobs, snapshots linking to them, refs."""
    folder = hub / ("models--" + repo_id.replace("/", "--"))
    configs = configs or {COMMIT_A: TINY}
    for commit, cfg in configs.items():
        blob = folder / "blobs" / f"blob-{commit[:8]}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_text(json.dumps(cfg))
        snap = folder / "snapshots" / commit
        snap.mkdir(parents=True, exist_ok=True)
        (snap / "config.json").symlink_to(os.path.relpath(blob, snap))
    for ref, commit in (refs if refs is not None else {"main": COMMIT_A}).items():
        path = folder / "refs" / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(commit)
    return folder


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A fake cache under HF_HUB_CACHE holding REPO_ID at COMMIT_A (main)."""
    d = tmp_path / "hub"
    make_cache(d)
    monkeypatch.setenv("HF_HUB_CACHE", str(d))
    return d


def one_error_line(r, *words):
    assert r.code == 2, (r.code, r.out, r.err)
    assert r.out == "" and r.err.startswith("llamasize: error: ") and len(r.err.splitlines()) == 1, r.err
    for w in words:
        assert w in r.err, (w, r.err)
    assert "Traceback" not in r.err


# ----------------------------------------------------------------------------- every command ---
def commands(model: str) -> list[tuple[tuple[str, ...], str | None]]:
    """Each command that takes a model, with its JSON output (args, stdin)."""
    tf = json.dumps({"model": model, "ctx": "4K", "gpu": "h100"})
    return [
        (("params", model, "-f", "json"), None),
        (("fit", "--model", model, "--gpu", "h100", "--ctx", "4K", "-f", "json"), None),
        (("perf", "--model", model, "--gpu", "h100", "--prompt-tokens", "1K", "--output-tokens", "256",
          "-f", "json"), None),
        (("cost", "--model", model, "--gpu", "h100", "-f", "json"), None),
        (("plan", "--model", model, "--ctx", "4K", "--gpu", "h100", "-f", "json"), None),
        (("sweep", "--model", model, "--ctx", "4K,8K", "--gpu", "h100", "-f", "json"), None),
        (("terraform-external",), tf),
    ]


def _check_manifest(tmp_path: Path, model: str) -> Path:
    """A one-GPU vLLM Deployment serving ``model`` (test_check's template)."""
    from test_check import DEPLOYMENT

    p = tmp_path / "m" / "deploy.yaml"
    p.parent.mkdir(exist_ok=True)
    p.write_text(DEPLOYMENT.format(body=f"""          command: ["vllm", "serve", "{model}", "--max-model-len", "4096"]
          resources: {{limits: {{nvidia.com/gpu: 1}}}}"""))
    return p


@pytest.mark.parametrize("i", range(7), ids=[c[0][0] for c in commands("x")])
def test_every_command_takes_a_registry_hf_id_as_the_registry_id(cli, i):
    """A repository id the registry lists gives byte-for-byte the output of the registry id."""
    by_id, by_repo = commands("llama3.1-8b")[i], commands("hf://META-LLAMA/Llama-3.1-8B-Instruct")[i]
    a, b = cli(*by_id[0], stdin=by_id[1]), cli(*by_repo[0], stdin=by_repo[1])
    assert a.code == 0 and b.code == 0, (a.err, b.err)
    assert a.out == b.out and "llama3.1-8b" in a.out


@pytest.mark.parametrize("i", range(7), ids=[c[0][0] for c in commands("x")])
def test_every_command_takes_a_cached_id_as_its_snapshot(cli, hub, i):
    """An id only the HF cache has reads the snapshot: the same output as naming the snapshot directory,
    except that the spec is named after the repository (the snapshot directory is a commit hash)."""
    snap = hub / f"models--{REPO_ID.replace('/', '--')}" / "snapshots" / COMMIT_A
    by_path, by_repo = commands(str(snap))[i], commands(REPO_ID)[i]
    a, b = cli(*by_path[0], stdin=by_path[1]), cli(*by_repo[0], stdin=by_repo[1])
    assert a.code == 0 and b.code == 0, (a.err, b.err)
    slug = "config-" + REPO_ID.lower().replace("/", "-")

    def unnamed(text: str) -> str:
        return (text.replace(slug, "<id>").replace(f"config-{COMMIT_A}", "<id>")
                .replace(REPO_ID, "<name>").replace(COMMIT_A, "<name>"))

    assert unnamed(a.out) == unnamed(b.out)


def test_check_takes_registry_and_cached_ids(cli, hub, tmp_path):
    for model, spec_id in (("meta-llama/Llama-3.1-8B-Instruct", "llama3.1-8b"), (REPO_ID, None)):
        r = cli("check", str(_check_manifest(tmp_path, model)), "-f", "json")
        assert r.code in (0, 1), r.err
        rep = r.json()
        assert not [f for f in rep["findings"] if f["rule"] == "LS009"], rep["findings"]
        models = [d["model"] for d in rep["deployments"]]
        assert models and (models[0] == spec_id if spec_id else models[0].startswith("config-")), models


def test_runtime_commands_resolve_the_same_way(cli, hub):
    """run takes a cached id (the tiny config runs in a second); verify's --model goes through the same
    resolution, so a miss is the same one-line error before anything is measured."""
    r = cli("run", "--model", REPO_ID, "--prompt-tokens", "8", "--new-tokens", "2", "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["model"].startswith("config-")
    for args in (("run",), ("verify", "--no-save")):
        one_error_line(cli(*args, "--model", "example-org/Nothing-Here"), "no models--example-org--Nothing-Here")


def test_params_of_a_cached_config_is_counted_from_it(cli, hub):
    r = cli("params", REPO_ID, "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["total_params"] == TINY_PARAMS


# ------------------------------------------------------------------------ where the cache is ---
@pytest.mark.parametrize("how", ["HF_HUB_CACHE", "HF_HOME", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"])
def test_cache_location_follows_the_environment(cli, tmp_path, monkeypatch, how):
    base = tmp_path / "elsewhere"
    hub = {"HF_HUB_CACHE": base, "HUGGINGFACE_HUB_CACHE": base, "HF_HOME": base / "hub",
           "XDG_CACHE_HOME": base / "huggingface" / "hub"}[how]
    make_cache(hub)
    r = cli("params", REPO_ID, "-f", "json")
    assert r.code == 2 and str(tmp_path / "cache" / "huggingface" / "hub") in r.err  # conftest's XDG default
    monkeypatch.setenv(how, str(base))
    r = cli("params", REPO_ID, "-f", "json")
    assert r.code == 0 and r.json()["total_params"] == TINY_PARAMS, r.err


ENV_CASES = [
    {},
    {"HF_HOME": "/x/home"},
    {"HF_HOME": "~/hfh", "XDG_CACHE_HOME": "/x/xdg"},
    {"XDG_CACHE_HOME": "/x/xdg"},
    {"HF_HUB_CACHE": "/x/hub", "HF_HOME": "/x/home"},
    {"HUGGINGFACE_HUB_CACHE": "/x/legacy", "HF_HOME": "/x/home"},
    {"HUGGINGFACE_HUB_CACHE": "/x/legacy", "HF_HUB_CACHE": "$HOME/new"},
]


def test_cache_dir_is_huggingface_hubs_own():
    """data.hfcache.cache_dir computes what huggingface_hub's constants.HF_HUB_CACHE does, in a fresh
    interpreter for each environment (the constants are computed on import)."""
    code = ("import sys; from huggingface_hub import constants; from llamasize.data.hfcache import cache_dir; "
            "print(constants.HF_HUB_CACHE); print(cache_dir())")
    for case in ENV_CASES:
        env = {k: v for k, v in os.environ.items()
               if k not in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME")} | case
        env["HF_HUB_OFFLINE"] = "1"
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        assert p.returncode == 0, p.stderr
        theirs, ours = p.stdout.splitlines()
        assert theirs == ours, case


def test_snapshot_is_the_file_huggingface_hub_finds(hub):
    """Same snapshot as huggingface_hub's try_to_load_from_cache (itself offline), by ref and by commit."""
    from huggingface_hub import try_to_load_from_cache

    from llamasize.data.hfcache import find_snapshot

    make_cache(hub, configs={COMMIT_B: TINY | {"num_hidden_layers": 3}}, refs={"v2": COMMIT_B})
    for rev in (None, "main", "v2", COMMIT_A, COMMIT_B):
        theirs = try_to_load_from_cache(REPO_ID, "config.json", cache_dir=hub, revision=rev)
        ours = find_snapshot(REPO_ID, rev).snapshot / "config.json"
        assert Path(theirs) == ours, rev


# ------------------------------------------------------------------------------- revisions ---
@pytest.fixture
def two_revisions(hub):
    make_cache(hub, configs={COMMIT_B: TINY | {"num_hidden_layers": 3}}, refs={"v2": COMMIT_B, "refs/pr/1": COMMIT_B})
    return hub


@pytest.mark.parametrize("rev,layers", [("", 2), ("@main", 2), ("@v2", 3), ("@refs/pr/1", 3),
                                        (f"@{COMMIT_A}", 2), (f"@{COMMIT_B}", 3)])
def test_revision_by_ref_or_commit(cli, two_revisions, rev, layers):
    r = cli("params", REPO_ID + rev, "-f", "json")
    assert r.code == 0, r.err
    per_layer = (TINY_PARAMS - 2 * VOCAB * H - H) // LAYERS
    assert r.json()["total_params"] == 2 * VOCAB * H + H + layers * per_layer


def test_huggingface_url_with_tree_revision(cli, two_revisions):
    r = cli("params", f"https://huggingface.co/{REPO_ID}/tree/v2", "-f", "json")
    assert r.code == 0 and r.json()["total_params"] > TINY_PARAMS, r.err


def test_missing_revision_lists_what_is_cached(cli, two_revisions):
    one_error_line(cli("params", REPO_ID + "@v9"), "'v9'", "not in the Hugging Face cache", "refs main",
                   COMMIT_A[:12])


@pytest.mark.parametrize("rev", ["../../etc", "/abs", "a//b", "x y"])
def test_bad_revision_names(cli, hub, rev):
    one_error_line(cli("params", f"{REPO_ID}@{rev}"), "revision")


def test_registry_id_with_revision_says_it_is_not_read(cli):
    r = cli("params", "meta-llama/Llama-3.1-8B-Instruct@main", "-f", "json")
    assert r.code == 0 and r.json()["model"] == "llama3.1-8b"
    assert "revision 'main' not read" in r.err


def test_no_refs_main_is_an_error_not_a_guess(cli, tmp_path, monkeypatch):
    make_cache(tmp_path / "hub", refs={})
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    one_error_line(cli("params", REPO_ID), "'main'", "no refs", COMMIT_A[:12])
    assert cli("params", f"{REPO_ID}@{COMMIT_A}").code == 0


# ------------------------------------------------------------------------------ broken caches ---
def test_cache_dir_that_is_a_file(cli, tmp_path, monkeypatch):
    f = tmp_path / "hubfile"
    f.write_text("not a directory")
    monkeypatch.setenv("HF_HUB_CACHE", str(f))
    one_error_line(cli("params", REPO_ID), str(f), "not a directory")


def test_unreadable_cache(cli, hub, monkeypatch):
    """The suite may run as root (chmod is no barrier), so the refusal is simulated where it happens."""
    import llamasize.data.hfcache as hfcache

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(hfcache.os, "scandir", refuse)
    # the case-insensitive lookup lists the cache
    one_error_line(cli("params", REPO_ID.upper()), str(hub), "Permission denied")


def test_case_insensitive_cache_folder(cli, hub):
    r = cli("params", REPO_ID.lower(), "-f", "json")
    assert r.code == 0 and r.json()["total_params"] == TINY_PARAMS, r.err


def test_ref_pointing_nowhere_and_junk_refs(cli, hub):
    ref = hub / f"models--{REPO_ID.replace('/', '--')}" / "refs" / "main"
    ref.write_text(COMMIT_B)
    one_error_line(cli("params", REPO_ID), str(ref), COMMIT_B, "no directory")
    ref.write_text("not a hash")
    one_error_line(cli("params", REPO_ID), str(ref), "40-hex")
    ref.write_text("a" * 5000)
    one_error_line(cli("params", REPO_ID), str(ref), "limit")
    ref.unlink()
    os.mkfifo(ref)  # a FIFO would block a naive read
    one_error_line(cli("params", REPO_ID), "main")


def test_snapshot_without_config(cli, hub):
    (hub / f"models--{REPO_ID.replace('/', '--')}" / "snapshots" / COMMIT_A / "config.json").unlink()
    one_error_line(cli("params", REPO_ID), COMMIT_A)


# ------------------------------------------------------------------------- what was tried ---
def test_unknown_repo_says_what_was_tried(cli, hub):
    r = cli("params", "example-org/Nothing-Here")
    one_error_line(r, "unknown model 'example-org/Nothing-Here'", "ids and aliases", "hf_names", "HF cache " + str(hub),
                   "no models--example-org--Nothing-Here", "local paths (none)")


def test_unknown_repo_suggests_the_closest(cli):
    one_error_line(cli("params", "meta-llama/Llama-3.1-8B-Instruktor"), "did you mean 'meta-llama/Llama-3.1-8B-Instruct'")


def test_unknown_name_suggests_a_registry_id(cli):
    one_error_line(cli("params", "scuot"), "did you mean 'llama4-scout'", "not the HF cache")


def test_other_org_with_a_listed_repository_name_is_said(cli):
    r = cli("params", "unsloth/Llama-3.1-8B-Instruct", "-f", "json")
    assert r.code == 0 and r.json()["model"] == "llama3.1-8b"
    assert "repository name is that of meta-llama/Llama-3.1-8B-Instruct" in r.err


# --------------------------------------------------------------------- paths versus names ---
def test_path_like_names_are_paths_only(cli, tmp_path, monkeypatch):
    """./scout is the directory, scout the registry alias, whatever the working directory holds."""
    d = tmp_path / "scout"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(TINY))
    monkeypatch.chdir(tmp_path)
    assert cli("params", "scout", "-f", "json").json()["model"] == "llama4-scout"
    assert cli("params", "./scout", "-f", "json").json()["total_params"] == TINY_PARAMS
    assert cli("params", str(d / "config.json"), "-f", "json").json()["total_params"] == TINY_PARAMS
    one_error_line(cli("params", "./llama3.1-8b"), "llama3.1-8b")  # a path: not the registry id
    one_error_line(cli("params", "missing.gguf"), "missing.gguf")


def test_existing_directory_that_is_no_registry_name(cli, tmp_path, monkeypatch):
    (tmp_path / "mymodel").mkdir()
    (tmp_path / "mymodel" / "config.json").write_text(json.dumps(TINY))
    monkeypatch.chdir(tmp_path)
    assert cli("params", "mymodel", "-f", "json").json()["total_params"] == TINY_PARAMS


# ------------------------------------------------------------------------- quantized repos ---
@pytest.mark.parametrize("repo,spec_id,quant", [
    ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "llama4-maverick", "fp8_experts"),
    ("nvidia/Llama-3.3-70B-Instruct-FP4", "llama3.3-70b", "nvfp4"),
    ("nvidia/Llama-4-Scout-17B-16E-Instruct-FP8", "llama4-scout", "fp8"),
    ("RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w8a8", "llama3.1-8b", "int8"),
    ("Qwen/Qwen3-30B-A3B-FP8", "qwen3-30b-a3b", "fp8"),
    ("meta-llama/Llama-3.1-70B", "llama3.1-70b", "bf16"),
    ("deepseek-ai/DeepSeek-R1", "deepseek-v3", "fp8-block128x128"),  # the checkpoint's own block-scaled FP8
])
def test_a_quantized_repo_selects_its_format(cli, repo, spec_id, quant):
    r = cli("fit", "--model", repo, "--gpu", "b200", "--gpus", "8", "--ctx", "8K", "-f", "json")
    assert r.code in (0, 3), r.err
    d = r.json()
    assert d["model"] == spec_id and d["quant"] == quant


def test_check_names_the_quantized_checkpoint(cli, tmp_path):
    r = cli("check", str(_check_manifest(tmp_path, "nvidia/Llama-3.1-8B-Instruct-FP8")), "-f", "json")
    dep = r.json()["deployments"][0]
    assert dep["model"] == "llama3.1-8b" and dep["quant"] == "fp8", dep
    assert "nvidia/Llama-3.1-8B-Instruct-FP8 is an FP8 checkpoint: fp8 weights" in dep["assumptions"]


def test_other_license_is_not_shown_as_the_specs(cli):
    a = cli("plan", "--model", "deepseek-v3", "--ctx", "8K", "--gpu", "h200", "-f", "json")
    b = cli("plan", "--model", "deepseek-ai/DeepSeek-R1", "--ctx", "8K", "--gpu", "h200", "-f", "json")
    assert a.json()["license"] is not None and b.json()["license"] is None
    assert "another license" in b.err


def test_registry_data(registry):
    """Every listed repository is an org/name id, listed once, and every format a known one."""
    from llamasize.data.hfcache import is_repo_id
    from llamasize.data.resolve import HfIndex
    from llamasize.estimate.quant import get_format

    seen: dict[str, str] = {}
    for spec in registry.models:
        for repo in spec.hf_repos():
            assert is_repo_id(repo), repo
            assert repo.lower() not in seen, (repo, seen.get(repo.lower()), spec.id)
            seen[repo.lower()] = spec.id
        for repo, fmt in spec.hf_quantized.items():
            assert get_format(fmt).id == fmt, (repo, fmt)
    assert len(HfIndex(registry).repos) == len(seen) > 40


def test_a_repository_listed_twice_is_refused(cli, tmp_path):
    import yaml

    data = yaml.safe_load((REPO / "model_specs" / "llama3.1-8b.yaml").read_text())
    data.update(id="my-8b", name="my 8B", aliases=[], hf_names=["META-LLAMA/Llama-3.1-8B-Instruct"], hf_quantized={},
                hf_other_license=[])
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "my.yaml").write_text(yaml.safe_dump(data))
    one_error_line(cli("params", "meta-llama/Llama-3.1-8B", "--specs-dir", str(tmp_path / "s")),
                   "already listed", "my.yaml")


# ----------------------------------------------------------------------------- no network ---
def test_no_network_and_no_huggingface_hub_import(hub):
    """The entry point, with every socket refused and the Hub endpoint unroutable: a cached id, a
    registry id and a miss all resolve (or fail) without a connection and without huggingface_hub."""
    code = """
import socket, sys
def refuse(*a, **k):
    raise SystemExit("network access attempted")
socket.socket = socket.create_connection = socket.getaddrinfo = refuse
from llamasize.cli.main import main
for name in sys.argv[1:]:
    try:
        main(["params", name, "-f", "json"])
    except SystemExit as e:
        print("exit", e.code, file=sys.stderr)
assert "huggingface_hub" not in sys.modules
print("hub not imported", file=sys.stderr)
"""
    env = dict(os.environ, HF_ENDPOINT="http://10.255.255.1:9", HF_HUB_OFFLINE="0", HF_HUB_CACHE=str(hub))
    p = subprocess.run([sys.executable, "-c", code, REPO_ID, "meta-llama/Llama-3.1-8B-Instruct", "example/none"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert "network access attempted" not in p.stderr + p.stdout
    assert p.stderr.count("exit 0") == 2 and "exit 2" in p.stderr and "hub not imported" in p.stderr, p.stderr


@pytest.mark.parametrize("gpus,logged_gib", [(2, 33.88), (4, 16.96)])
def test_red_hat_fp8_repo_weights_match_vllms_log(cli, gpus, logged_gib):
    """The repository id alone selects fp8: per-GPU weights within 0.5 % of what vLLM 0.19 logged loading
    RedHatAI/Llama-3.3-70B-Instruct-fp8-dynamic on H100s (docs/facts/engine-memory.md rows 10 and 11)."""
    r = cli("fit", "--model", "RedHatAI/Llama-3.3-70B-Instruct-fp8-dynamic", "--gpu", "h100", "--gpus", str(gpus),
            "--ctx", "8K", "-f", "json")
    assert r.code in (0, 3), r.err
    per_gpu_gib = r.json()["per_gpu"]["weights_bytes"] / 2**30
    assert abs(per_gpu_gib / logged_gib - 1) < 0.005, per_gpu_gib


def test_plan_of_a_quantized_repo_searches_and_serves_it(cli):
    """plan's default is every format; naming a quantized repository makes it that format, served from
    that repository. fp8, which the engine makes on load, is served from the release checkpoint."""
    r = cli("plan", "--model", "nvidia/Llama-3.3-70B-Instruct-FP4", "--ctx", "8K", "--gpu", "b200", "-f", "json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["recommendation"]["quant"] == "nvfp4" and d["hf_model"] == "nvidia/Llama-3.3-70B-Instruct-FP4"
    assert "ships in nvfp4" in r.err
    r = cli("plan", "--model", "RedHatAI/Meta-Llama-3.1-8B-quantized.w8a8", "--ctx", "8K", "--gpu", "h100",
            "--emit", "vllm")
    assert "vllm serve RedHatAI/Meta-Llama-3.1-8B-quantized.w8a8 " in r.out + r.err
    r = cli("plan", "--model", "nvidia/Llama-3.1-8B-Instruct-FP8", "--ctx", "8K", "--gpu", "h100", "--emit", "vllm")
    assert "vllm serve meta-llama/Llama-3.1-8B-Instruct " in r.out + r.err and "--quantization fp8" in r.out + r.err


NAME_PARTS = ["meta-llama", "Llama-3.1-8B-Instruct", "example-org", "Tiny-Llama", "hf://", "s3://b/", "models--",
              "--", "/", "./", "~", "@", "@main", "..", ".json", ".gguf", "\x00", "\u202e", " ", "scout", "tree", ":"]


@pytest.mark.parametrize("paths", [True, False])
def test_any_name_resolves_or_is_a_one_line_error(registry, hub, tmp_path, monkeypatch, paths):
    """Whatever the name, resolve returns a spec or raises llamasize's own UsageError (which the CLI
    funnel prints as one escaped line): never another exception, so never a traceback."""
    from hypothesis import given, strategies as st

    from llamasize.data.resolve import resolve
    from llamasize.errors import UsageError

    monkeypatch.chdir(tmp_path)

    @given(st.lists(st.sampled_from(NAME_PARTS) | st.text(max_size=8), max_size=6).map("".join))
    def prop(name):
        try:
            r = resolve(registry, name, paths=paths)
        except UsageError:
            return
        assert r.spec.id

    prop()
