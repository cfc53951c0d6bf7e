"""pricing: the bundled API price catalogue against docs/facts/pricing.md §4.1, the blended-price and
cost arithmetic, cheapest-API selection (suspect rows excluded), and loading user directories."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llamasize.errors import DataError, UsageError
from llamasize.data.prices import (
    ApiModelPrice,
    ApiProvider,
    blended_usd_per_mtok,
    cheapest_for_model,
    load_api_prices,
    prices_for_model,
    reference_prices,
    usd_for_tokens,
)
from llamasize.data.registry import load_registry
from llamasize.files import bundled_dir

# Every row of docs/facts/pricing.md §4.1, transcribed by hand:
# (provider id, model id in the catalogue, serves, input $/1M, output $/1M, max input tokens or None).
FACT_ROWS = [
    ("groq", "meta-llama/llama-4-scout-17b-16e-instruct", "llama4-scout", 0.11, 0.34, 131072),
    ("groq", "meta-llama/llama-4-maverick-17b-128e-instruct", "llama4-maverick", 0.20, 0.60, 131072),
    ("together", "Llama-4-Scout-17B-16E-Instruct", "llama4-scout", 0.18, 0.59, None),
    ("together", "Llama-4-Maverick-17B-128E-Instruct-FP8", "llama4-maverick", 0.27, 0.85, None),
    ("fireworks", "llama4-scout-instruct-basic", "llama4-scout", 0.15, 0.60, 131072),
    ("fireworks", "llama4-maverick-instruct-basic", "llama4-maverick", 0.22, 0.88, 131072),
    ("deepinfra", "Scout", "llama4-scout", 0.08, 0.30, 327680),
    ("deepinfra", "Maverick-FP8", "llama4-maverick", 0.15, 0.60, 1048576),
    ("bedrock", "meta.llama4-scout-17b-instruct-v1:0", "llama4-scout", 0.17, 0.66, 128000),
    ("bedrock", "meta.llama4-maverick-17b-instruct-v1:0", "llama4-maverick", 0.24, 0.97, 128000),
    ("vertex", "Scout MaaS", "llama4-scout", 0.25, 0.70, 10_000_000),
    ("vertex", "Maverick MaaS", "llama4-maverick", 0.35, 1.15, 1_000_000),
    ("azure", "Scout", "llama4-scout", 0.20, 0.78, 10_000_000),
    ("azure", "Maverick-FP8", "llama4-maverick", 1.41, 0.35, 1_000_000),
    ("sambanova", "Scout", "llama4-scout", 0.40, 0.70, 8192),
    ("sambanova", "Maverick", "llama4-maverick", 0.63, 1.80, 131072),
    ("lambda", "Scout", "llama4-scout", 0.05, 0.10, 16384),
    ("lambda", "Maverick-FP8", "llama4-maverick", 0.05, 0.10, 131072),
    ("nscale", "Scout", "llama4-scout", 0.09, 0.29, None),
    ("oci", "Scout", "llama4-scout", 0.72, 0.72, 192000),
    ("oci", "Maverick", "llama4-maverick", 0.72, 0.72, 512000),
    ("vercel", "Scout", "llama4-scout", 0.10, 0.30, 131072),
    ("vercel", "Maverick", "llama4-maverick", 0.20, 0.60, 131072),
    ("databricks", "Maverick", "llama4-maverick", 5.00, 15.00, 128000),
    ("cerebras", "Scout", "llama4-scout", 0.65, 0.85, None),
    ("cerebras", "Maverick", "llama4-maverick", 0.20, 0.60, None),
    ("jiekou", "Scout", "llama4-scout", 0.10, 0.50, None),
    ("jiekou", "Maverick-FP8", "llama4-maverick", 0.17, 0.85, None),
    ("openai", "gpt-4o", None, 2.50, 10.00, 128000),
    ("openai", "gpt-4o-mini", None, 0.15, 0.60, None),
    ("openai", "gpt-4.1", None, 2.00, 8.00, None),
    ("anthropic", "claude-sonnet-4", None, 3.00, 15.00, 200000),
    ("anthropic", "claude-3.7-sonnet", None, 3.00, 15.00, 200000),
    ("anthropic", "claude-3.5-sonnet-v2", None, 3.00, 15.00, 200000),
    ("anthropic", "claude-opus-4", None, 15.00, 75.00, 200000),
    ("groq", "Llama-3.3-70B", "llama3.3-70b", 0.59, 0.79, None),
    ("groq", "Llama-3.1-8B", "llama3.1-8b", 0.05, 0.08, None),
    ("together", "Llama-3.3-70B-Turbo", "llama3.3-70b", 0.88, 0.88, None),
    ("together", "Llama-3.1-405B-Turbo", "llama3.1-405b", 3.50, 3.50, None),
    ("together", "Llama-3.1-8B-Turbo", "llama3.1-8b", 0.18, 0.18, None),
    ("deepseek", "chat", "deepseek-v3", 0.27, 1.10, None),
    ("deepseek", "reasoner", None, 0.55, 2.19, None),
    ("groq", "gpt-oss-120b", "gpt-oss-120b", 0.15, 0.75, None),
    ("fireworks", "gpt-oss-120b", "gpt-oss-120b", 0.15, 0.60, None),
    ("together", "gpt-oss-120b", "gpt-oss-120b", 0.15, 0.60, None),
    ("groq", "gpt-oss-20b", "gpt-oss-20b", 0.10, 0.50, None),
    ("fireworks", "gpt-oss-20b", "gpt-oss-20b", 0.05, 0.20, None),
    ("together", "gpt-oss-20b", "gpt-oss-20b", 0.05, 0.20, None),
]

PROVIDER_IDS = ["groq", "together", "fireworks", "deepinfra", "bedrock", "vertex", "azure", "sambanova", "lambda",
                "nscale", "oci", "vercel", "databricks", "cerebras", "jiekou", "openai", "anthropic", "deepseek"]


@pytest.fixture(scope="module")
def providers():
    return load_api_prices()


def _entry(providers, provider_id: str, model_id: str) -> tuple[ApiProvider, ApiModelPrice]:
    p = next(p for p in providers if p.id == provider_id)
    return p, next(m for m in p.models if m.id == model_id)


def _price(input_usd: float, output_usd: float, **kw) -> ApiModelPrice:
    return ApiModelPrice(id=kw.pop("id", "m"), name="m", serves=kw.pop("serves", None),
                         input_usd_per_mtok=input_usd, output_usd_per_mtok=output_usd, **kw)


# ------------------------------------------------------------------------------ bundled data ---
def test_every_provider_has_one_file(providers):
    assert sorted(p.id for p in providers) == sorted(PROVIDER_IDS)
    files = sorted(p.stem for p in (bundled_dir("hardware_catalog") / "api_prices").glob("*.yaml"))
    assert files == sorted(PROVIDER_IDS)


@pytest.mark.parametrize("provider_id, model_id, serves, inp, out, max_in", FACT_ROWS)
def test_every_fact_row_is_present_with_its_values(providers, provider_id, model_id, serves, inp, out, max_in):
    _, m = _entry(providers, provider_id, model_id)
    assert m.input_usd_per_mtok == inp
    assert m.output_usd_per_mtok == out
    assert m.serves == serves
    assert m.max_input_tokens == max_in


def test_no_row_beyond_the_facts(providers):
    listed = {(p.id, m.id) for p in providers for m in p.models}
    assert listed == {(r[0], r[1]) for r in FACT_ROWS}


@pytest.mark.parametrize(
    "provider_id, serves, inp, out",
    [("groq", "llama4-scout", 0.11, 0.34), ("together", "llama4-maverick", 0.27, 0.85),
     ("fireworks", "llama4-maverick", 0.22, 0.88), ("deepinfra", "llama4-scout", 0.08, 0.30),
     ("bedrock", "llama4-maverick", 0.24, 0.97), ("vertex", "llama4-scout", 0.25, 0.70),
     ("sambanova", "llama4-maverick", 0.63, 1.80), ("nscale", "llama4-scout", 0.09, 0.29),
     ("cerebras", "llama4-scout", 0.65, 0.85), ("deepseek", "deepseek-v3", 0.27, 1.10),
     ("together", "llama3.1-405b", 3.50, 3.50)],
)
def test_spot_checks_through_prices_for_model(providers, provider_id, serves, inp, out):
    rows = [(p, m) for p, m in prices_for_model(providers, serves) if p.id == provider_id]
    assert len(rows) == 1
    m = rows[0][1]
    assert (m.input_usd_per_mtok, m.output_usd_per_mtok) == (inp, out)


def test_frontier_references(providers):
    default = {(p.id, m.id): (m.input_usd_per_mtok, m.output_usd_per_mtok) for p, m in reference_prices(providers)}
    assert default == {("openai", "gpt-4o"): (2.50, 10.00), ("anthropic", "claude-sonnet-4"): (3.00, 15.00)}
    every = {(p.id, m.id) for p, m in reference_prices(providers, include_optional=True)}
    assert every == {("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "gpt-4.1"),
                     ("anthropic", "claude-sonnet-4"), ("anthropic", "claude-3.7-sonnet"),
                     ("anthropic", "claude-3.5-sonnet-v2"), ("anthropic", "claude-opus-4")}


def test_serves_names_registry_models(providers, registry):
    ids = {m.id for m in registry.models}
    for p in providers:
        for m in p.models:
            assert m.serves is None or m.serves in ids, (p.id, m.id, m.serves)


def test_dates_sources_and_labels(providers):
    for p in providers:
        if p.id in ("cerebras", "jiekou"):
            assert p.label == "reported" and p.as_of is None and p.notes, p.id
        else:
            assert p.label == "exact-mirror", p.id
            assert p.as_of == "2025-09-05", p.id
            assert "tokencost" in p.source and "e7f7c19" in p.source, p.id
    cerebras = next(p for p in providers if p.id == "cerebras")
    scout = next(m for m in cerebras.models if m.serves == "llama4-scout")
    assert cerebras.source_of(scout).startswith("inference-docs.cerebras.ai/models/llama-4-scout")
    jiekou = next(p for p in providers if p.id == "jiekou")
    assert "Jiekou-Knowledge-Base" in jiekou.source


def test_caveats_are_carried(providers):
    _, azure = _entry(providers, "azure", "Maverick-FP8")
    assert azure.suspect and any("input/output look swapped" in n for n in azure.notes)
    _, dbx = _entry(providers, "databricks", "Maverick")
    assert dbx.suspect and any("likely DBU-based, not $" in n for n in dbx.notes)
    suspects = {(p.id, m.id) for p in providers for m in p.models if m.suspect}
    assert suspects == {("azure", "Maverick-FP8"), ("databricks", "Maverick")}
    _, chat = _entry(providers, "deepseek", "chat")
    _, reasoner = _entry(providers, "deepseek", "reasoner")
    assert chat.serves == "deepseek-v3" and "V3" in chat.name
    assert reasoner.serves is None and "R1" in reasoner.name


# -------------------------------------------------------------------------------- arithmetic ---
def test_blended_price_hand_worked(providers):
    _, groq_scout = _entry(providers, "groq", "meta-llama/llama-4-scout-17b-16e-instruct")  # 0.11 / 0.34
    # 3:1 -> (0.11*3 + 0.34*1) / 4 = (0.33 + 0.34) / 4 = 0.1675
    assert blended_usd_per_mtok(groq_scout, 3, 1) == pytest.approx(0.1675)
    # 1:1 -> (0.11 + 0.34) / 2 = 0.225
    assert blended_usd_per_mtok(groq_scout, 1, 1) == pytest.approx(0.225)
    # 2000 in, 500 out -> (220 + 170) / 2500 = 0.156
    assert blended_usd_per_mtok(groq_scout, 2000, 500) == pytest.approx(0.156)
    # only the ratio matters; all-input is the input price, all-output the output price
    assert blended_usd_per_mtok(groq_scout, 3000, 1000) == pytest.approx(0.1675)
    assert blended_usd_per_mtok(groq_scout, 5, 0) == pytest.approx(0.11)
    assert blended_usd_per_mtok(groq_scout, 0, 5) == pytest.approx(0.34)


def test_blended_price_rejects_empty_or_negative_mix():
    with pytest.raises(UsageError, match="must be positive"):
        blended_usd_per_mtok(_price(1, 2), 0, 0)
    with pytest.raises(UsageError, match="negative"):
        blended_usd_per_mtok(_price(1, 2), -1, 2)


def test_usd_for_tokens_hand_worked(providers):
    _, gpt4o = _entry(providers, "openai", "gpt-4o")  # 2.50 / 10.00
    assert usd_for_tokens(gpt4o, 1_000_000, 1_000_000) == pytest.approx(12.50)
    # 30M in + 10M out a day: 30 * 2.50 + 10 * 10.00 = 75 + 100 = $175/day
    assert usd_for_tokens(gpt4o, 30_000_000, 10_000_000) == pytest.approx(175.0)
    # linear in volume
    assert usd_for_tokens(gpt4o, 60_000_000, 20_000_000) == pytest.approx(350.0)


# ---------------------------------------------------------------------------------- cheapest ---
def test_cheapest_scout_api(providers):
    # Scout rows of facts §4.1, blended 3:1 = (3*in + out) / 4, by hand:
    #   Lambda 0.05/0.10 -> 0.0625   DeepInfra 0.08/0.30 -> 0.135   nscale 0.09/0.29 -> 0.14
    #   Vercel 0.10/0.30 -> 0.15     Groq 0.11/0.34 -> 0.1675       jiekou 0.10/0.50 -> 0.20
    #   Fireworks 0.15/0.60 -> 0.2625 Together 0.18/0.59 -> 0.2825  Bedrock 0.17/0.66 -> 0.2925
    #   Azure 0.20/0.78 -> 0.345     Vertex 0.25/0.70 -> 0.3625     SambaNova 0.40/0.70 -> 0.475
    #   Cerebras 0.65/0.85 -> 0.70   OCI 0.72/0.72 -> 0.72
    # Lambda has both the lowest input and the lowest output price, so it wins at any mix.
    p, m = cheapest_for_model(providers, "llama4-scout")
    assert (p.id, m.input_usd_per_mtok, m.output_usd_per_mtok) == ("lambda", 0.05, 0.10)
    assert blended_usd_per_mtok(m, 3, 1) == pytest.approx(0.0625)
    for mix in [(1, 0), (0, 1), (1, 1), (10, 1)]:
        assert cheapest_for_model(providers, "llama4-scout", *mix)[0].id == "lambda"
    order = [p.id for p, _ in prices_for_model(providers, "llama4-scout")]
    assert order[:5] == ["lambda", "deepinfra", "nscale", "vercel", "groq"]
    assert len(order) == 14


def test_cheapest_scout_api_for_long_prompts(providers):
    # Lambda's Scout takes at most 16,384 input tokens; for 32K prompts the next is DeepInfra
    # (327,680 max input, 0.135 blended); nscale (0.14) has no recorded limit and stays eligible.
    p, m = cheapest_for_model(providers, "llama4-scout", min_input_tokens=32_768)
    assert (p.id, m.input_usd_per_mtok, m.output_usd_per_mtok) == ("deepinfra", 0.08, 0.30)
    ids = [p.id for p, _ in prices_for_model(providers, "llama4-scout", min_input_tokens=32_768)]
    assert "lambda" not in ids and "sambanova" not in ids and "nscale" in ids


def test_cheapest_maverick_api(providers):
    # Maverick rows, blended 3:1 by hand:
    #   Lambda 0.05/0.10 -> 0.0625   DeepInfra 0.15/0.60 -> 0.2625
    #   Cerebras, Groq, Vercel 0.20/0.60 -> 0.30   jiekou 0.17/0.85 -> 0.34   Fireworks 0.22/0.88 -> 0.385
    #   Together 0.27/0.85 -> 0.415  Bedrock 0.24/0.97 -> 0.4225  Vertex 0.35/1.15 -> 0.55
    #   OCI 0.72/0.72 -> 0.72        SambaNova 0.63/1.80 -> 0.9225
    #   suspect: Azure 1.41/0.35 -> 1.145, Databricks 5/15 -> 7.5
    p, m = cheapest_for_model(providers, "llama4-maverick")
    assert (p.id, m.input_usd_per_mtok, m.output_usd_per_mtok) == ("lambda", 0.05, 0.10)
    order = [p.id for p, _ in prices_for_model(providers, "llama4-maverick")]
    # the 0.30 tie is broken by provider id; suspect rows come with the rest, here last
    assert order == ["lambda", "deepinfra", "cerebras", "groq", "vercel", "jiekou", "fireworks", "together",
                     "bedrock", "vertex", "oci", "sambanova", "azure", "databricks"]


def test_suspect_rows_never_win_cheapest(providers):
    # Among Azure, Bedrock and Databricks, pricing output tokens only: Azure's recorded 0.35 beats
    # Bedrock's 0.97, but Azure's pair looks swapped, so Bedrock is the cheapest trustworthy price.
    subset = [p for p in providers if p.id in ("azure", "bedrock", "databricks")]
    assert cheapest_for_model(subset, "llama4-maverick", 0, 1)[0].id == "bedrock"
    assert cheapest_for_model(subset, "llama4-maverick", 0, 1, include_suspect=True)[0].id == "azure"
    only_suspect = [p for p in providers if p.id in ("azure", "databricks")]
    assert cheapest_for_model(only_suspect, "llama4-maverick") is None
    ids = [p.id for p, _ in prices_for_model(providers, "llama4-maverick", include_suspect=False)]
    assert "azure" not in ids and "databricks" not in ids


def test_models_without_an_api(providers):
    assert prices_for_model(providers, "llama4-behemoth") == []
    assert cheapest_for_model(providers, "micro-moe") is None
    # peers: the cheapest gpt-oss-20b is Fireworks / Together at 0.05 / 0.20 (tie -> provider id)
    p, m = cheapest_for_model(providers, "gpt-oss-20b")
    assert (p.id, m.input_usd_per_mtok, m.output_usd_per_mtok) == ("fireworks", 0.05, 0.20)


# ------------------------------------------------------------------------------------ schema ---
def test_schema_rules():
    with pytest.raises(ValueError, match="needs a note"):
        _price(1, 2, suspect=True)
    with pytest.raises(ValueError, match="default_reference needs reference"):
        _price(1, 2, default_reference=True)
    with pytest.raises(ValueError, match="serves no registry model"):
        _price(1, 2, reference=True, serves="llama4-scout")
    with pytest.raises(ValueError):
        _price(-1, 2)
    base = dict(id="x", name="X", source="s", label="reported")
    with pytest.raises(ValueError, match="listed twice"):
        ApiProvider(as_of="2025-01-01", models=[_price(1, 2), _price(1, 2)], **base)
    with pytest.raises(ValueError, match="as_of: null needs a note"):
        ApiProvider(as_of=None, models=[_price(1, 2)], **base)
    with pytest.raises(ValueError):
        ApiProvider(as_of="2025-01-01", models=[], **base)


# ----------------------------------------------------------------------- user directories ---
def _provider_file(catalog: Path, provider_id: str = "acme", **overrides) -> Path:
    data = {
        "id": provider_id, "name": "Acme Inference", "source": "our contract", "as_of": "2026-01-01",
        "label": "reported",
        "models": [{"id": "scout-int4", "name": "Scout int4", "serves": "llama4-scout",
                    "input_usd_per_mtok": 0.01, "output_usd_per_mtok": 0.02}],
    }
    data.update(overrides)
    d = catalog / "api_prices"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{provider_id}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_user_dir_is_merged(tmp_path):
    _provider_file(tmp_path / "cat")
    merged = load_api_prices([bundled_dir("hardware_catalog"), tmp_path / "cat"])
    assert sorted(p.id for p in merged) == sorted(PROVIDER_IDS + ["acme"])
    p, m = cheapest_for_model(merged, "llama4-scout")
    assert (p.id, m.id) == ("acme", "scout-int4")
    # the user dir alone gives only its own providers
    assert [p.id for p in load_api_prices([tmp_path / "cat"])] == ["acme"]


def test_registry_catalog_dirs_feed_the_loader(tmp_path, monkeypatch, registry):
    _provider_file(tmp_path / "cat")
    monkeypatch.setenv("LLAMASIZE_CATALOG_PATH", str(tmp_path / "cat"))
    reg = load_registry()
    assert "acme" in {p.id for p in load_api_prices(reg.catalog_dirs)}
    # the GPU loader ignores the api_prices/ subdirectory
    assert tmp_path / "cat" in reg.catalog_dirs
    assert {g.id for g in reg.gpus} == {g.id for g in registry.gpus}


def test_catalog_dir_without_prices_and_repeated_dirs(tmp_path):
    (tmp_path / "gpus-only").mkdir()
    bundled = bundled_dir("hardware_catalog")
    assert len(load_api_prices([bundled, tmp_path / "gpus-only"])) == len(PROVIDER_IDS)
    assert len(load_api_prices([bundled, bundled])) == len(PROVIDER_IDS)  # read once, no clash


def test_same_provider_twice_names_both_files(tmp_path):
    path = _provider_file(tmp_path / "cat", "groq")
    with pytest.raises(DataError) as ei:
        load_api_prices([bundled_dir("hardware_catalog"), tmp_path / "cat"])
    msg = str(ei.value)
    assert str(path) in msg and str(bundled_dir("hardware_catalog") / "api_prices" / "groq.yaml") in msg
    assert "'groq'" in msg and "\n" not in msg


def test_missing_catalog_dir(tmp_path):
    with pytest.raises(DataError, match="not a directory"):
        load_api_prices([tmp_path / "nope"])


@pytest.mark.parametrize(
    "content, expected",
    [("id: acme\nmodels: [unclosed\n", "malformed YAML"),
     ("- just\n- a list\n", "expected a mapping"),
     ("", "expected a mapping")],
)
def test_malformed_file_is_one_line_data_error(tmp_path, content, expected):
    d = tmp_path / "cat" / "api_prices"
    d.mkdir(parents=True)
    bad = d / "acme.yaml"
    bad.write_text(content)
    with pytest.raises(DataError) as ei:
        load_api_prices([tmp_path / "cat"])
    msg = str(ei.value)
    assert str(bad) in msg and expected in msg and "\n" not in msg


@pytest.mark.parametrize(
    "overrides, expected",
    [({"currency": "EUR"}, "currency: unknown key"),
     ({"label": "guessed"}, "label"),
     ({"models": [{"id": "m", "name": "m", "serves": None, "input_usd_per_mtok": -1,
                   "output_usd_per_mtok": 1}]}, "models.0.input_usd_per_mtok"),
     ({"models": [{"id": "m", "name": "m", "input_usd_per_mtok": 1, "output_usd_per_mtok": 1}]},
      "models.0.serves: required key missing")],
)
def test_invalid_file_is_one_line_data_error(tmp_path, overrides, expected):
    bad = _provider_file(tmp_path / "cat", **overrides)
    with pytest.raises(DataError) as ei:
        load_api_prices([tmp_path / "cat"])
    msg = str(ei.value)
    assert str(bad) in msg and expected in msg and "\n" not in msg
