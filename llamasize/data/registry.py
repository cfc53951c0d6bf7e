"""Loading the spec registry and the GPU catalogue, bundled and user-supplied.

The bundled YAML lives at the top of the repository (``model_specs/``, ``hardware_catalog/``) and
inside the wheel at ``llamasize/_data/``; ``bundled_dir`` finds either. Users add directories with
``--specs-dir`` / ``--catalog-dir`` or the ``LLAMASIZE_SPECS_PATH`` / ``LLAMASIZE_CATALOG_PATH``
environment variables (``os.pathsep``-separated); their entries are merged with the bundled ones
and an id or alias defined twice is an error.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from llamasize.errors import DataError, UnknownIdError
from llamasize.files import bundled_dir, load_dir
from llamasize.data.hardware import GpuSpec
from llamasize.data.instances import InstanceCatalog, InstanceType, check_instance, shaped_gpu
from llamasize.data.spec import ModelSpec
from llamasize.text import quote_value

SPECS_ENV = "LLAMASIZE_SPECS_PATH"
#: Subdirectory of a catalogue directory holding instance-type files (``InstanceCatalog``).
INSTANCES_DIR = "instances"
CATALOG_ENV = "LLAMASIZE_CATALOG_PATH"


def _env_dirs(var: str) -> list[Path]:
    """Directories listed in an environment variable (os.pathsep-separated, blanks ignored)."""
    raw = os.environ.get(var, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


@dataclass(frozen=True)
class _Index:
    """Entries by id, plus every lower-cased id/alias pointing at its id."""

    entries: dict[str, object] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    origin: dict[str, Path] = field(default_factory=dict)

    def add(self, entry, path: Path, kind: str) -> None:
        """Add an entry, refusing any id or alias that is already taken."""
        for name in entry.all_names():
            key = name.lower()
            if key in self.names:
                other = self.origin[self.names[key]]
                raise DataError(
                    f"{path}: {kind} name '{name}' is already defined by {other}; "
                    "ids and aliases must be unique across all catalogue directories"
                )
        self.entries[entry.id] = entry
        self.origin[entry.id] = path
        for name in entry.all_names():
            self.names[name.lower()] = entry.id

    def find(self, name: str, kind: str, more: dict[str, str] | None = None):
        """Exact (case-insensitive) lookup; UnknownIdError with a close-match suggestion (among the
        names and ``more``: lower-cased name -> name to suggest)."""
        key = name.strip().lower()
        if key in self.names:
            return self.entries[self.names[key]]
        pool = {**self.names, **(more or {})}
        close = difflib.get_close_matches(key, list(pool), n=1, cutoff=0.6)
        hint = f"; did you mean '{pool[close[0]]}'?" if close else ""
        listing = "models" if kind == "model" else "gpus"
        raise UnknownIdError(f"unknown {kind} {quote_value(name)}{hint} (see 'llamasize {listing}')")


@dataclass(frozen=True)
class Instance:
    """A cloud instance type, its provider and the GPU it carries (shaped: one node = one instance)."""

    spec: InstanceType
    provider: str
    gpu: GpuSpec


@dataclass(frozen=True)
class Registry:
    """The merged spec registry and GPU catalogue."""

    _models: _Index
    _gpus: _Index
    spec_dirs: tuple[Path, ...]
    catalog_dirs: tuple[Path, ...]
    #: lower-cased instance type name -> Instance
    _instances: dict[str, Instance] = field(default_factory=dict)

    @property
    def models(self) -> list[ModelSpec]:
        """All model specs, sorted by id."""
        return [self._models.entries[k] for k in sorted(self._models.entries)]

    @property
    def gpus(self) -> list[GpuSpec]:
        """All GPU entries, sorted by id."""
        return [self._gpus.entries[k] for k in sorted(self._gpus.entries)]

    def model(self, name: str) -> ModelSpec:
        """A model by id or alias (every other name a user may give -- a Hugging Face repository, a
        cached one, a path -- is resolved by ``data.resolve``)."""
        return self._models.find(name, "model")

    def model_names(self) -> dict[str, str]:
        """Every lower-cased model id and alias -> its id."""
        return self._models.names

    @property
    def instances(self) -> list[Instance]:
        """All cloud instance types, sorted by provider and name."""
        return sorted(self._instances.values(), key=lambda i: (i.provider, i.spec.id.lower()))

    def instance(self, name: str) -> Instance | None:
        """A cloud instance type by its exact (case-insensitive) name, or None."""
        return self._instances.get(name.strip().lower())

    def gpu(self, name: str) -> GpuSpec:
        """A GPU by id, alias, the exact device name NVML reports, or a cloud instance type (then the
        GPU with ``gpus_per_node`` = the instance's GPU count: one node is one instance)."""
        key = name.strip()
        for g in self._gpus.entries.values():
            if key in g.nvml_names or key in g.gfd_products:
                return g
        inst = self.instance(key) if key.lower() not in self._gpus.names else None
        if inst is not None:
            return inst.gpu
        return self._gpus.find(name, "gpu", {k: i.spec.id for k, i in self._instances.items()})

    def model_origin(self, model_id: str) -> Path:
        """File a model spec was loaded from."""
        return self._models.origin[model_id]


def _dirs(extra: Iterable[str | Path] | None, env: str, bundled: str) -> tuple[Path, ...]:
    """Bundled directory first, then the environment's, then the explicit ones (de-duplicated)."""
    seen, out = set(), []
    for d in [bundled_dir(bundled), *_env_dirs(env), *[Path(x).expanduser() for x in (extra or [])]]:
        r = d.resolve()
        if r not in seen:
            seen.add(r)
            out.append(d)
    return tuple(out)


@lru_cache(maxsize=8)
def _load(spec_dirs: tuple[Path, ...], catalog_dirs: tuple[Path, ...]) -> Registry:
    models, gpus = _Index(), _Index()
    for d in spec_dirs:
        for entry, path in load_dir(d, ModelSpec):
            models.add(entry, path, "model")
    for d in catalog_dirs:
        for entry, path in load_dir(d, GpuSpec):
            gpus.add(entry, path, "gpu")
    instances: dict[str, Instance] = {}
    for d in catalog_dirs:
        if (d / INSTANCES_DIR).is_dir():
            for catalog, path in load_dir(d / INSTANCES_DIR, InstanceCatalog):
                for inst in catalog.instances:
                    _add_instance(instances, gpus, inst, catalog.provider, path)
    return Registry(models, gpus, spec_dirs, catalog_dirs, instances)


def _add_instance(instances: dict[str, Instance], gpus: _Index, inst: InstanceType, provider: str,
                  path: Path) -> None:
    """Index one instance type; DataError when its GPU is unknown, its name is taken or its
    printed memory contradicts the GPU (``check_instance``)."""
    key = inst.id.lower()
    if key in instances or key in gpus.names:
        raise DataError(f"{path}: instance type '{inst.id}' is already defined (as an instance or a GPU name)")
    gpu = gpus.entries.get(inst.gpu)
    if gpu is None:
        raise DataError(f"{path}: instance type '{inst.id}' names GPU '{inst.gpu}', which is not in the catalogue")
    check_instance(inst, gpu, str(path))
    instances[key] = Instance(inst, provider, shaped_gpu(gpu, inst, provider))


def load_registry(spec_dirs: Iterable[str | Path] | None = None,
                  catalog_dirs: Iterable[str | Path] | None = None) -> Registry:
    """Load (once per set of directories) the bundled data merged with the user's directories."""
    return _load(_dirs(spec_dirs, SPECS_ENV, "model_specs"), _dirs(catalog_dirs, CATALOG_ENV, "hardware_catalog"))
