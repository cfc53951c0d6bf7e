"""The API price catalogue (``hardware_catalog/api_prices/<provider>.yaml``): managed-API prices in
USD per 1M tokens, with their date and source, and the arithmetic to compare them.

One file per provider lists the provider's models: the provider's model id, the registry model it
``serves`` (null for models that are not in the registry, such as GPT-4o), input and output prices,
and notes. Frontier models kept for comparison are ``reference: true``; GPT-4o and Claude Sonnet are
also ``default_reference: true`` (the ones a comparison shows unless asked for more). An entry whose
recorded price the facts doubt (Azure's Maverick pair looks swapped, Databricks' is likely in DBUs)
is ``suspect: true``: kept exactly as recorded, shown with its note, and left out of "cheapest".

The bundled catalogue is ``api_prices/`` under ``registry.bundled_dir("hardware_catalog")``; user
catalogue directories (``--catalog-dir`` / ``LLAMASIZE_CATALOG_PATH``) may carry their own
``api_prices/``. The GPU loader reads only the top level of a catalogue directory, so the two never
clash. A provider id defined twice is an error naming both files.

Numbers: docs/facts/pricing.md §4.1 (LiteLLM's price file as vendored by tokencost @e7f7c19, 2025-09-05;
Cerebras docs and a jiekou.ai crawl as reported values).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable

from pydantic import Field, field_validator, model_validator

from llamasize.errors import DataError, UsageError
from llamasize.files import bundled_dir, load_dir
from llamasize.data.spec import Frozen, Label
from llamasize.text import quote_value

#: Subdirectory of a catalogue directory that holds the API price files.
API_PRICES_SUBDIR = "api_prices"

#: Default input:output token mix for ranking prices by one number: 3 input tokens per output token,
#: the blend Artificial Analysis uses for its "blended price". An assumption, not a measurement:
#: callers with a workload pass its own prompt and output lengths.
DEFAULT_BLEND_INPUT_TOKENS = 3
DEFAULT_BLEND_OUTPUT_TOKENS = 1

TOKENS_PER_MTOK = 1_000_000


class ApiModelPrice(Frozen):
    """One model a provider sells, with its price per 1M tokens."""

    #: The provider's model id (``id_exact``), or the descriptive name the facts use for it.
    id: str = Field(min_length=1)
    #: True when ``id`` is the provider's API model id exactly as the source records it.
    id_exact: bool = False
    name: str = Field(min_length=1)
    #: Registry model id this endpoint serves (``llama4-scout``), null for non-registry models.
    serves: str | None
    #: A frontier model kept for comparison (GPT-4o, Claude Sonnet, ...); never a registry model.
    reference: bool = False
    #: A reference shown by default (GPT-4o, Claude Sonnet); the others only on request.
    default_reference: bool = False
    input_usd_per_mtok: float = Field(ge=0, lt=10_000)
    output_usd_per_mtok: float = Field(ge=0, lt=10_000)
    max_input_tokens: int | None = Field(default=None, gt=0)
    #: The facts doubt the recorded value (swapped, or not in dollars): kept, flagged, never "cheapest".
    suspect: bool = False
    #: Source of this entry when it differs from the provider's.
    source: str | None = None
    notes: list[str] = []

    def __hash__(self) -> int:  # the list field makes the generated hash fail
        return hash((self.id, self.input_usd_per_mtok, self.output_usd_per_mtok))

    @model_validator(mode="after")
    def _consistent(self) -> "ApiModelPrice":
        """Reference flags agree, and a suspect entry says why."""
        if self.default_reference and not self.reference:
            raise ValueError("default_reference needs reference: true")
        if self.reference and self.serves is not None:
            raise ValueError(f"a reference model serves no registry model, but serves is {quote_value(self.serves)}")
        if self.suspect and not self.notes:
            raise ValueError("suspect: true needs a note saying why")
        return self


class ApiProvider(Frozen):
    """One API provider: its models and prices, with the date and source of the record."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = Field(min_length=1)
    source: str = Field(min_length=1)
    #: ISO date of the price record; null (with a note) when the source gives none.
    as_of: str | None
    label: Label
    notes: list[str] = []
    models: list[ApiModelPrice] = Field(min_length=1)

    def __hash__(self) -> int:
        return hash((self.id, self.name))

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_as_text(cls, v):
        """YAML reads 2025-09-05 as a date; keep it as the ISO text."""
        return v.isoformat() if hasattr(v, "isoformat") else v

    @model_validator(mode="after")
    def _consistent(self) -> "ApiProvider":
        """Model ids unique within the provider; an unknown date carries a note."""
        seen: set[str] = set()
        for m in self.models:
            if m.id in seen:
                raise ValueError(f"model id {quote_value(m.id)} is listed twice")
            seen.add(m.id)
        if self.as_of is None and not self.notes:
            raise ValueError("as_of: null needs a note saying why the date is unknown")
        return self

    def source_of(self, price: ApiModelPrice) -> str:
        """Where a price comes from: the entry's own source, else the provider's."""
        return price.source or self.source


# ------------------------------------------------------------------------------------ loading ---
def _load_prices_dir(directory: Path) -> list[tuple[ApiProvider, Path]]:
    """Validate every ``*.yaml``/``*.yml`` file of an ``api_prices/`` directory as one provider."""
    return load_dir(directory, ApiProvider)


@lru_cache(maxsize=8)
def _load(catalog_dirs: tuple[Path, ...]) -> tuple[ApiProvider, ...]:
    """Providers of every ``api_prices/`` under the (resolved, de-duplicated) directories, by id."""
    providers: dict[str, ApiProvider] = {}
    origin: dict[str, Path] = {}
    for d in catalog_dirs:
        if not d.is_dir():
            raise DataError(f"{d}: not a directory")
        sub = d / API_PRICES_SUBDIR
        if not sub.is_dir():  # a user catalogue may hold GPUs only
            continue
        for provider, path in _load_prices_dir(sub):
            if provider.id in providers:
                raise DataError(
                    f"{path}: API provider '{provider.id}' is already defined by {origin[provider.id]}; "
                    "provider ids must be unique across all catalogue directories"
                )
            providers[provider.id] = provider
            origin[provider.id] = path
    return tuple(providers[k] for k in sorted(providers))


def load_api_prices(catalog_dirs: Iterable[str | Path] | None = None) -> list[ApiProvider]:
    """All API providers from ``api_prices/`` under each catalogue directory, sorted by id.

    ``catalog_dirs`` is the full list (pass ``Registry.catalog_dirs``: bundled first, then the
    user's); None means the bundled catalogue only. A directory listed twice is read once; one
    without ``api_prices/`` contributes nothing. Raises DataError (one line, naming the file) for an
    unreadable or invalid file and for a provider id defined in two files.
    """
    dirs = [bundled_dir("hardware_catalog")] if catalog_dirs is None else [Path(d).expanduser() for d in catalog_dirs]
    seen, unique = set(), []
    for d in dirs:
        r = d.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return list(_load(tuple(unique)))


# --------------------------------------------------------------------------------- arithmetic ---
def _check_tokens(input_tokens: float, output_tokens: float) -> None:
    """UsageError for a negative token count."""
    if input_tokens < 0 or output_tokens < 0:
        raise UsageError(f"token counts must not be negative (input {input_tokens}, output {output_tokens})")


def blended_usd_per_mtok(price: ApiModelPrice, input_tokens: float, output_tokens: float) -> float:
    """One price per 1M tokens for a mix of ``input_tokens`` (P) and ``output_tokens`` (O).

    blended = (in x P + out x O) / (P + O), with in / out the input / output USD per 1M tokens:
    the average price of a token in that mix. E.g. Groq Scout (0.11 / 0.34) at 3:1 gives
    (0.11 x 3 + 0.34 x 1) / 4 = 0.1675. Only the ratio P:O matters.
    """
    _check_tokens(input_tokens, output_tokens)
    total = input_tokens + output_tokens
    if total <= 0:
        raise UsageError(f"input_tokens ({input_tokens}) + output_tokens ({output_tokens}) must be positive")
    return (price.input_usd_per_mtok * input_tokens + price.output_usd_per_mtok * output_tokens) / total


def usd_for_tokens(price: ApiModelPrice, input_tokens: float, output_tokens: float) -> float:
    """Dollars for ``input_tokens`` in and ``output_tokens`` out.

    usd = (in x P + out x O) / 1e6, with in / out the USD per 1M tokens. Linear in volume: this is
    the API's cost per day when P and O are tokens per day.
    """
    _check_tokens(input_tokens, output_tokens)
    return (price.input_usd_per_mtok * input_tokens + price.output_usd_per_mtok * output_tokens) / TOKENS_PER_MTOK


# ----------------------------------------------------------------------------------- queries ---
def prices_for_model(providers: Iterable[ApiProvider], model_id: str,
                     input_tokens: float = DEFAULT_BLEND_INPUT_TOKENS,
                     output_tokens: float = DEFAULT_BLEND_OUTPUT_TOKENS,
                     *, include_suspect: bool = True,
                     min_input_tokens: int | None = None) -> list[tuple[ApiProvider, ApiModelPrice]]:
    """Every ``(provider, price)`` that serves registry model ``model_id``, cheapest first.

    Sorted by ``blended_usd_per_mtok`` for the given input:output mix (default 3:1), ties broken by
    provider id then model id so the order is deterministic. Suspect entries are included (callers
    show their notes) unless ``include_suspect`` is False. With ``min_input_tokens``, entries whose
    known ``max_input_tokens`` is smaller are left out (an unknown limit is kept).
    """
    rows = [(p, m) for p in providers for m in p.models
            if m.serves == model_id and (include_suspect or not m.suspect)
            and (min_input_tokens is None or m.max_input_tokens is None or m.max_input_tokens >= min_input_tokens)]
    return sorted(rows, key=lambda pm: (blended_usd_per_mtok(pm[1], input_tokens, output_tokens), pm[0].id, pm[1].id))


def cheapest_for_model(providers: Iterable[ApiProvider], model_id: str,
                       input_tokens: float = DEFAULT_BLEND_INPUT_TOKENS,
                       output_tokens: float = DEFAULT_BLEND_OUTPUT_TOKENS,
                       *, include_suspect: bool = False,
                       min_input_tokens: int | None = None) -> tuple[ApiProvider, ApiModelPrice] | None:
    """The cheapest ``(provider, price)`` for ``model_id`` at the given mix, or None if no API serves it.

    Suspect entries are excluded by default: a price the facts doubt must not win a comparison.
    ``min_input_tokens`` drops entries known to accept fewer input tokens (see ``prices_for_model``).
    """
    rows = prices_for_model(providers, model_id, input_tokens, output_tokens, include_suspect=include_suspect,
                            min_input_tokens=min_input_tokens)
    return rows[0] if rows else None


def reference_prices(providers: Iterable[ApiProvider], *,
                     include_optional: bool = False) -> list[tuple[ApiProvider, ApiModelPrice]]:
    """The frontier references as ``(provider, price)``, in catalogue order (provider id, then file order).

    By default only ``default_reference`` entries (GPT-4o, Claude Sonnet 4); with
    ``include_optional`` every ``reference`` entry (also GPT-4o mini, GPT-4.1, older Sonnets, Opus 4).
    """
    return [(p, m) for p in providers for m in p.models
            if m.reference and (include_optional or m.default_reference)]
