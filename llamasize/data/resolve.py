"""One model resolution order, used by every command's ``--model`` and by ``check``'s model references.

``resolve(registry, name)`` tries, in this order, and stops at the first that matches:

1. a registry id or alias (``scout``, ``llama3.1-70b``; case-insensitive);
2. a Hugging Face repository the registry lists (``hf_names``, and ``hf_quantized``: a quantized
   repository selects its format, which becomes the spec's default), matched case-insensitively:
   ``org/name``, ``org/name@revision``, ``hf://org/name``, ``https://huggingface.co/org/name[/tree/rev]``,
   a storage URI or path ending in ``org/name``, ``org--name`` or ``models--org--name``;
3. the local Hugging Face cache (``hfcache``; offline, never the network) for an ``org/name[@revision]``
   that no spec lists: its snapshot directory, read by ``local.load_local_model``;
4. a repository name (without the org) that only one spec lists -- a mirror under another org, a
   storage path ``pvc://weights/NAME`` -- with a note saying so;
5. a local directory, ``config.json`` file or ``.gguf`` file (``local.load_local_model``).

A name that *looks like a path* -- it starts with ``/``, ``./``, ``../`` or ``~``, or ends in
``.json`` or ``.gguf`` -- is read as a path (step 5) and nothing else, so ``./scout`` is the
directory even though ``scout`` is a registry alias. A name that does not look like one is a registry
name first: a directory called ``scout`` in the working directory is read only as ``./scout``.

``check`` resolves references written for another machine (a container's ``/models/...``), so it
passes ``paths=False``: no step 5, and a path-like reference is matched by its tail (step 2).
When nothing matches: UnknownIdError, one line, saying what was tried.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from llamasize.data.hfcache import CacheLookup, find_snapshot, is_repo_id
from llamasize.data.local import load_local_model
from llamasize.data.spec import ModelSpec
from llamasize.errors import DataError, UnknownIdError
from llamasize.text import quote_value

#: Prefixes that name a Hugging Face repository (dropped before matching).
HF_PREFIXES = ("hf://", "huggingface://", "https://huggingface.co/", "http://huggingface.co/",
               "https://hf.co/", "huggingface.co/", "hf.co/")
#: Suffixes that make a name a path (step 4 only).
PATH_SUFFIXES = (".json", ".gguf")


def looks_like_path(name: str) -> bool:
    """Whether ``name`` is written as a path: ``/x``, ``./x``, ``../x``, ``~/x``, ``x.json``, ``x.gguf``
    (and a Windows drive or backslash path where that is the separator)."""
    n = name.strip()
    starts = ("/", "./", "../", "~")
    if os.altsep:  # Windows: \x, .\x, C:\x
        starts += ("\\", ".\\", "..\\")
        if len(n) > 2 and n[1] == ":" and n[2] in "\\/":
            return True
    return n.startswith(starts) or n.lower().endswith(PATH_SUFFIXES) or n in (".", "..")


@dataclass(frozen=True)
class HfReference:
    """A model reference taken apart: the repository candidates to match, the bare repository name,
    the ``org/name`` to look up in the cache (None when the reference has no such form) and the
    revision (``@rev`` or a ``/tree/rev`` URL; None when not given)."""

    candidates: tuple[str, ...]
    base: str | None
    repo_id: str | None
    revision: str | None


def parse_reference(ref: str) -> HfReference:
    """Split a reference (module docstring, step 2) into what can be matched."""
    r = ref.strip().rstrip("/")
    hub = False
    for prefix in HF_PREFIXES:
        if r.lower().startswith(prefix):
            r, hub = r[len(prefix):], True
            break
    else:
        if "://" in r:  # s3://bucket/path, pvc://claim/path, gs://...: drop the scheme and bucket/host
            r = r.split("://", 1)[1]
            r = r.split("/", 1)[1] if "/" in r else ""
    revision = None
    head, at, rev = r.partition("@")
    if at and "/" in head:  # org/name@revision (a revision may hold "/": refs/pr/1)
        r, revision = head, rev
    parts = [p for p in r.split("/") if p]
    if hub and len(parts) >= 4 and parts[2] in ("tree", "blob", "resolve"):  # huggingface.co/org/name/tree/rev
        parts, revision = parts[:2], "/".join(parts[3:])
    if not parts:
        return HfReference((), None, None, revision)
    last = parts[-1]
    if last.lower().startswith("models--"):
        last = last[len("models--"):]
    candidates = ["/".join(parts)]
    if len(parts) >= 2:
        candidates.append("/".join(parts[-2:]))
    if "--" in last:
        candidates.append(last.replace("--", "/", 1))
    repo_id = next((c for c in candidates if is_repo_id(c)), None)
    if len(parts) > 2 and not hub and not any("--" in c for c in candidates[2:]):
        repo_id = None  # a path's tail is matched against the registry, not looked up in the cache
    return HfReference(tuple(dict.fromkeys(candidates)), last, repo_id, revision)


@dataclass(frozen=True)
class HfMatch:
    """A registry spec a repository id resolves to, the id as the registry writes it, and the format
    the repository ships in when it is quantized (``hf_quantized``)."""

    spec: ModelSpec
    hf_name: str
    quant: str | None


class HfIndex:
    """Every repository id of the registry, lower-cased (built once per lookup table)."""

    def __init__(self, registry) -> None:
        self.repos: dict[str, HfMatch] = {}
        base: dict[str, list[HfMatch]] = {}
        for spec in registry.models:
            for name in spec.hf_repos():
                key = name.lower()
                if key in self.repos and self.repos[key].spec.id != spec.id:
                    raise DataError(f"{registry.model_origin(spec.id)}: repository {name} is already listed by "
                                    f"{registry.model_origin(self.repos[key].spec.id)}; a repository resolves "
                                    "to one spec")
                self.repos[key] = HfMatch(spec, name, spec.hf_quantized.get(name))
                base.setdefault(name.split("/")[-1].lower(), []).append(self.repos[key])
        #: bare repository names (without the org) that belong to exactly one model
        self.base = {k: v[0] for k, v in base.items() if len({m.spec.id for m in v}) == 1}

    def match(self, ref: HfReference, *, by_name: bool = True) -> HfMatch | None:
        """The registry repository a reference names, else None. ``by_name``: also a reference whose
        repository name alone (without the org, as in ``pvc://weights/NAME``) only one model lists."""
        for c in ref.candidates:
            m = self.repos.get(c.lower())
            if m is not None:
                return m
        return self.base.get(ref.base.lower()) if by_name and ref.base else None

    def suggestion(self, name: str) -> str | None:
        """The closest registry repository id, for the "did you mean" of a miss."""
        close = difflib.get_close_matches(name.lower(), list(self.repos), n=1, cutoff=0.75)
        return self.repos[close[0]].hf_name if close else None


@dataclass(frozen=True)
class Resolution:
    """What a model name resolved to, and how."""

    spec: ModelSpec
    #: registry | hf_names | hf_cache | path
    via: str
    #: The registry repository matched (``hf_names``/``hf_quantized``) or the cached repository read.
    hf_name: str | None = None
    #: The format the named repository ships in, when it is a quantized one (``hf_quantized``).
    quant: str | None = None
    #: The directory or file read (cache snapshot or local path).
    path: Path | None = None
    #: Things the user should be told on stderr (a revision that did not matter, ...).
    notes: tuple[str, ...] = ()


def with_format(m: HfMatch) -> ModelSpec:
    """The spec of a matched repository: a quantized one makes its format the checkpoint's, and one
    published under another license (``hf_other_license``) has no license rather than the spec's."""
    update: dict = {}
    if m.quant:  # its format is the checkpoint's, and it is the repository served in it (``serving_repo``)
        rest = {k: v for k, v in m.spec.hf_quantized.items() if k != m.hf_name}
        update = {"checkpoint_quant": m.quant, "hf_quantized": {m.hf_name: m.quant, **rest}}
    if m.hf_name in m.spec.hf_other_license:
        update["license"] = None
    return m.spec.model_copy(update=update) if update else m.spec


def _listed(m: HfMatch, ref: HfReference, notes: tuple[str, ...]) -> Resolution:
    """The Resolution of a registry repository (a revision given is not read: say so)."""
    if m.hf_name in m.spec.hf_other_license and m.spec.license is not None:
        notes += (f"{m.hf_name}'s weights have another license than {m.spec.id}'s ({m.spec.license.name}); "
                  "no license is shown: read the repository's own",)
    if ref.revision:
        notes += (f"revision {quote_value(ref.revision)} not read: {m.hf_name} is in the registry as {m.spec.id}, "
                  "whose architecture does not change between revisions",)
    return Resolution(with_format(m), "hf_names", hf_name=m.hf_name, quant=m.quant, notes=notes)


def _local(path: Path, via: str, name_hint: str | None = None) -> Resolution:
    """A spec read from a local path (``local.load_local_model``)."""
    return Resolution(load_local_model(path, name_hint=name_hint), via, hf_name=name_hint, path=path)


def resolve(registry, name: str, *, paths: bool = True, ids: bool = True, index: HfIndex | None = None) -> Resolution:
    """Resolve a model name by the one order (module docstring); UnknownIdError when nothing matches.

    ``check`` passes ``paths=False`` (no local paths are read; a path-like name is matched by its
    tail) and, for references an engine reads (``vllm serve NAME``), ``ids=False``: llamasize's own ids
    and aliases are not repository names. ``index`` reuses one repository table across lookups.
    """
    raw = name.strip()
    if paths and looks_like_path(raw):
        return _local(Path(raw).expanduser(), "path")
    key = raw.lower()
    if ids and key in registry.model_names():
        return Resolution(registry.model(raw), "registry")
    index = index or HfIndex(registry)
    ref = parse_reference(raw)
    m = index.match(ref, by_name=False)
    if m is not None:
        return _listed(m, ref, ())
    cached: CacheLookup | None = None
    if ref.repo_id is not None:
        cached = find_snapshot(ref.repo_id, ref.revision)
        if cached.snapshot is not None:
            return _local(cached.snapshot, "hf_cache", name_hint=ref.repo_id)
    m = index.match(ref)
    if m is not None:  # by the repository name alone: a mirror (other org) or a storage path
        return _listed(m, ref, (f"{quote_value(raw)} is not in the registry; its repository name is that of "
                                f"{m.hf_name}: read as {m.spec.id}",))
    if paths and raw and os.path.lexists(raw):
        return _local(Path(raw), "path")
    raise UnknownIdError(_miss(registry, index, raw, ref, cached, paths, ids))


def _miss(registry, index: HfIndex, name: str, ref: HfReference, cached: CacheLookup | None, paths: bool,
          ids: bool) -> str:
    """The one-line "unknown model" message: what was tried, and the closest name."""
    close = difflib.get_close_matches(name.lower(), sorted(registry.model_names()), n=1, cutoff=0.6) if ids else []
    hint = f"'{registry.model_names()[close[0]]}'" if close else None
    if hint is None and "/" in name:
        repo = index.suggestion(ref.candidates[0] if ref.candidates else name)
        hint = f"'{repo}'" if repo else None
    tried = ["registry ids and aliases" if ids else "no registry ids (an engine reads repository names)",
             f"the hf_names of {len(registry.models)} specs"]
    if cached is not None:
        tried.append(f"the HF cache {cached.cache} ({cached.reason})")
    elif paths:
        tried.append("not the HF cache (no org/name)")
    if paths:
        tried.append("local paths (none)")
    did = f"; did you mean {hint}?" if hint else ""
    return f"unknown model {quote_value(name)}{did} (tried: {', '.join(tried)}; see 'llamasize models')"


def resolve_model(registry, name: str) -> ModelSpec:
    """``--model`` value -> spec, by the one resolution order (``resolve``)."""
    return resolve(registry, name).spec
