"""The one guarded way to read a file the user (or the bundled data) names.

Every reader in llamasize goes through here: text files are size-capped and must be UTF-8; YAML is
parsed with the safe loader after its nesting depth and alias count are checked on the parser's
events (nothing recurses, nothing is composed first); a directory of YAML entries is validated one
pydantic model per file. Failures are one-line ``DataError``s that name the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from llamasize.errors import DataError

#: Files larger than this are refused before parsing (a spec or catalogue entry is a few KB).
MAX_DATA_FILE_BYTES = 1_000_000
#: Deepest nesting and most aliases a data file may use. libyaml's composer recurses and crashes
#: (a segfault) at some 30,000 levels of flow nesting, so depth is checked on the parser's
#: events, which do not recurse, before anything is composed.
MAX_YAML_DEPTH = 100
MAX_YAML_ALIASES = 1_000
#: ``llamasize check`` reads manifests that others wrote or generated (``helm template`` and kustomize
#: output runs to megabytes, and Kubernetes objects nest about 15 levels, lists of them deeper), so
#: its YAML tree reader (``llamasize.check.yamltree``) accepts larger files and deeper nesting than a
#: bundled data file, and bounds aliases by the nodes they expand to (manifests use anchors freely;
#: "billion laughs" is a blow-up of size, not of count).
MAX_MANIFEST_FILE_BYTES = 5 * 2**20
MAX_MANIFEST_YAML_DEPTH = 200
MAX_MANIFEST_YAML_NODES = 3_000_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

T = TypeVar("T", bound=BaseModel)


def bundled_dir(name: str) -> Path:
    """Directory of bundled data ``name``: inside an installed wheel, else the source checkout."""
    here = Path(__file__).resolve().parent  # the llamasize package
    for candidate in (here / "_data" / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise DataError(f"bundled data directory '{name}' not found (looked in {here / '_data'} and {here.parent})")


def pydantic_message(err: ValidationError) -> str:
    """One-line summary of a pydantic validation error: ``field.path: message; ...``."""
    parts = []
    for e in err.errors()[:3]:
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "required key missing"
        parts.append(f"{loc}: {msg}")
    more = len(err.errors()) - 3
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def read_text_file(path: Path, what: str = "file", limit: int = MAX_DATA_FILE_BYTES) -> str:
    """A small UTF-8 text file's contents; DataError (one line, naming the file) when it cannot be
    read, is larger than ``limit`` bytes or is not UTF-8."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise DataError(f"{path}: {what} is {size:,} bytes, larger than the {limit:,}-byte limit")
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None


def read_yaml_file(path: Path) -> object:
    """Parse one YAML file with the safe loader; DataError (one line) for anything unreadable."""
    decoded = read_text_file(path)
    try:
        check_yaml_structure(decoded, path)
        return yaml.load(decoded, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise DataError(f"{path}:{where} malformed YAML: {problem}") from None


def check_yaml_structure(text: str, path: Path) -> None:
    """Refuse YAML nested deeper than MAX_YAML_DEPTH or with more than MAX_YAML_ALIASES aliases,
    scanning the parser's events (iterative; nothing is built)."""
    depth = aliases = 0
    for ev in yaml.parse(text, Loader=_Loader):
        if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                line = ev.start_mark.line + 1
                raise DataError(f"{path}: line {line}: YAML nested more than {MAX_YAML_DEPTH} levels deep")
        elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
        elif isinstance(ev, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise DataError(f"{path}: more than {MAX_YAML_ALIASES:,} YAML aliases; refusing a possible alias "
                                "blow-up")


def load_dir(directory: Path, model: type[T]) -> list[tuple[T, Path]]:
    """Validate every ``*.yaml``/``*.yml`` file of a directory as one ``model`` entry."""
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory")
    out = []
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in files:
        data = read_yaml_file(path)
        if not isinstance(data, dict):
            raise DataError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
        try:
            out.append((model.model_validate(data), path))
        except ValidationError as e:
            raise DataError(f"{path}: {pydantic_message(e)}") from None
    return out
