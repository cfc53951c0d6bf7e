"""The one guarded way to read a file the user (or the bundled data) names.

Every reader in llamasize goes through here: text files are size-capped and must be UTF-8; YAML is
parsed with the safe loader after its nesting depth and alias count are checked on the parser's
events (nothing recurses, nothing is composed first); a directory of YAML entries is validated one
pydantic model per file. Failures are one-line ``DataError``s that name the file.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from llamasize.errors import DataError
from llamasize.text import quote_value
from llamasize.units import MAX_NUMBER_CHARS

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


#: Deepest JSON nesting accepted (config.json and calibration files nest a few levels; Python's
#: parser raises RecursionError, not a decode error, somewhere past 900).
MAX_JSON_DEPTH = 64
_BRACKETS = re.compile(r"[\[\]{}]")
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"')


class NotRegularFileError(OSError):
    """A path that names a FIFO, device, socket or directory where a regular file is read."""


def open_regular_file(path: Path):
    """``path`` opened for binary reading, only if it is a regular file: FIFOs, devices, sockets and
    directories are refused by name before anything is opened (a FIFO would block, ``/dev/zero``
    never ends, and ``st_size`` is 0 for both), opened non-blocking and checked again after the open
    (in case it was replaced meanwhile). NotRegularFileError or OSError otherwise."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(errno.EINVAL, f"{_file_kind(st.st_mode)}, not a regular file")
    fh = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb")
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fh.close()
        raise NotRegularFileError(errno.EINVAL, "not a regular file")
    return fh


def read_bytes_capped(path: Path, what: str = "file", limit: int = MAX_DATA_FILE_BYTES) -> bytes:
    """At most ``limit`` bytes of a regular file (``open_regular_file``); DataError (one line, naming
    the file) otherwise. The read stops at ``limit + 1`` bytes, so a file that grows or lies about
    its size cannot exhaust memory."""
    try:
        with open_regular_file(path) as fh:
            raw = fh.read(limit + 1)
    except NotRegularFileError as e:
        raise DataError(f"{path}: {what} is {e.strerror}") from None
    except (OSError, ValueError) as e:  # ValueError: an embedded NUL in the name
        raise DataError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    if len(raw) > limit:
        raise DataError(f"{path}: {what} is larger than the {limit:,}-byte limit")
    return raw


def read_head(path: Path, what: str, count: int) -> tuple[bytes, int]:
    """The first ``count`` bytes of a regular file (``open_regular_file``; fewer when the file is
    shorter) and the file's size in bytes, from the same open file; nothing past ``count`` is read
    (a checkpoint header, never its tensor data). DataError (one line, naming the file) otherwise."""
    try:
        with open_regular_file(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            raw = fh.read(count)
    except NotRegularFileError as e:
        raise DataError(f"{path}: {what} is {e.strerror}") from None
    except (OSError, ValueError) as e:  # ValueError: an embedded NUL in the name
        raise DataError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    return raw, size


def check_new_file(path: Path, force: bool = False) -> None:
    """DataError unless ``write_new_file(path, ..., force)`` may write there: a symlink is never
    written through, an existing file only with ``force``, and anything but a regular file never
    (checked before the work that produces the content, so a refusal costs nothing)."""
    if os.path.islink(path):
        raise DataError(f"{path}: is a symbolic link; llamasize does not write through links (name the target)")
    if os.path.lexists(path):
        if not os.path.isfile(path):
            raise DataError(f"{path}: exists and is not a regular file")
        if not force:
            raise DataError(f"{path}: exists; pass --force to overwrite it")


def write_new_file(path: Path, text: str, force: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path``, refusing what ``check_new_file`` refuses; the file is opened
    with O_NOFOLLOW (and O_EXCL unless ``force``), so a link or file that appears meanwhile is not
    followed or clobbered. DataError, one line, on any failure."""
    check_new_file(path, force)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as e:
        raise DataError(f"{path}: cannot write: {e.strerror or e}") from None


def _file_kind(mode: int) -> str:
    """A file type in words (for the refusal of anything but a regular file)."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_text_file(path: Path, what: str = "file", limit: int = MAX_DATA_FILE_BYTES) -> str:
    """A small UTF-8 text file's contents (``read_bytes_capped``, then UTF-8); DataError otherwise."""
    raw = read_bytes_capped(path, what, limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None


def _json_number(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a {len(text):,}-character number (at most {MAX_NUMBER_CHARS})")
    return text


def parse_json(text: str, where: str) -> object:
    """JSON with limits: nesting at most ``MAX_JSON_DEPTH`` deep, number literals at most
    ``MAX_NUMBER_CHARS`` characters, and no NaN or infinity. ``where`` starts the one-line
    DataError (e.g. the file name)."""
    depth = deepest = 0
    for ch in _BRACKETS.findall(_STRINGS.sub("", text)):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    if deepest > MAX_JSON_DEPTH:
        raise DataError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep")

    def constant(name: str):
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_int=lambda s: int(_json_number(s)),
                          parse_float=lambda s: float(_json_number(s)), parse_constant=constant)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except (ValueError, RecursionError) as e:
        raise DataError(f"{where}: malformed JSON: {e}") from None


class _UniqueKeyLoader(_Loader):
    """The safe loader, refusing a key given twice in one mapping.

    PyYAML keeps the last of two equal keys without a word (YAML 1.2 says keys must be unique),
    so a spec with two ``hidden_size:`` lines would be read with whichever came last. Keys that a
    ``<<`` merge brings in may be overridden, as YAML's merge-key rule intends."""

    def construct_mapping(self, node, deep=False):  # noqa: D102 - PyYAML's hook
        if isinstance(node, yaml.MappingNode):
            first: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = key in first
                except TypeError:  # an unhashable key: PyYAML reports it itself below
                    continue
                if seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {quote_value(str(key))} (first given on line {first[key]})",
                        key_node.start_mark)
                first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml_file(path: Path) -> object:
    """Parse one YAML file with the safe loader; DataError (one line) for anything unreadable,
    including a key given twice in one mapping (``_UniqueKeyLoader``)."""
    decoded = read_text_file(path)
    try:
        check_yaml_structure(decoded, path)
        return yaml.load(decoded, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise DataError(f"{path}:{where} malformed YAML: {problem}") from None


#: A plain YAML scalar the safe loader turns into an int with Python's ``int()`` (decimal digits,
#: underscores, sexagesimal colons), which refuses more than 4,300 digits with a ValueError.
_YAML_INT = re.compile(r"[-+]?[0-9][0-9_:]*")


def check_yaml_structure(text: str, path: Path) -> None:
    """Refuse YAML nested deeper than MAX_YAML_DEPTH, with more than MAX_YAML_ALIASES aliases, or with
    an integer longer than MAX_NUMBER_CHARS (a 5,000-digit one was an internal error: found by the
    fuzz suite), scanning the parser's events (iterative; nothing is built)."""
    depth = aliases = 0
    for ev in yaml.parse(text, Loader=_Loader):
        if isinstance(ev, yaml.ScalarEvent) and len(ev.value) > MAX_NUMBER_CHARS and _YAML_INT.fullmatch(ev.value) \
                and (not ev.style or ev.tag == "tag:yaml.org,2002:int"):  # plain (libyaml: '', PyYAML: None) or !!int
            raise DataError(f"{path}: line {ev.start_mark.line + 1}: a {len(ev.value):,}-character number "
                            f"(at most {MAX_NUMBER_CHARS})")
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
