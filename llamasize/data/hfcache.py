"""The local Hugging Face cache, read offline: repository id (and revision) -> snapshot directory.

The layout is huggingface_hub's (``constants.py``, ``file_download.py``, docs "Understand caching"):

    <cache>/models--<org>--<name>/refs/<revision>       a text file holding a 40-hex commit hash
    <cache>/models--<org>--<name>/snapshots/<commit>/   the files of that commit (links to blobs/)

``<cache>`` is, as huggingface_hub's ``constants.HF_HUB_CACHE`` computes it when it is imported:
``$HF_HUB_CACHE``, else the legacy ``$HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else
``${XDG_CACHE_HOME:-~/.cache}/huggingface/hub`` (``~`` and ``$VARS`` expanded in HF_HOME and
HF_HUB_CACHE). It is computed here from the environment at call time with the same rule
(tests/test_resolve.py checks the two agree), so llamasize does not import huggingface_hub.

Never a network call: llamasize only reads this directory, so it behaves as huggingface_hub does
with ``HF_HUB_OFFLINE=1`` whatever that variable says. A revision is a ref (``main``, a branch or
tag, ``refs/pr/1``) read from ``refs/``, or a full commit hash naming a snapshot; without one,
``main``. Ref files are read through ``files.read_text_file`` (regular files only, capped, one-line
errors naming the file).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from llamasize.errors import DataError, UsageError
from llamasize.files import read_text_file
from llamasize.text import quote_value

#: huggingface_hub ``constants.REPO_ID_SEPARATOR`` and ``file_download.repo_folder_name``.
_SEPARATOR = "--"
#: A full commit id (huggingface_hub writes refs with the 40-hex sha the Hub returned).
_COMMIT = re.compile(r"[0-9a-f]{40}")
#: huggingface_hub ``utils/_validators.py`` REPO_ID_REGEX, with the namespace required (a cache folder is
#: looked up for ``org/name`` only); "--" and ".." are refused there too, and a name has at most 96 characters.
_REPO_ID = re.compile(r"[\w\-.]{1,96}/[\w\-.]{1,96}", re.ASCII)
#: Revisions: branch, tag and ref names (``refs/pr/1``); no ``..``, no leading ``/``.
_REVISION = re.compile(r"[A-Za-z0-9_.\-][A-Za-z0-9_.\-/]{0,254}")
_DEFAULT_REVISION = "main"
#: A ref file holds one commit hash; anything much longer is not a ref.
_MAX_REF_BYTES = 1024


def cache_dir() -> Path:
    """The hub cache directory, by huggingface_hub's rule (module docstring), from the environment now."""
    env = os.environ
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                                        ".cache"), "huggingface")
    home = os.path.expandvars(os.path.expanduser(home))
    hub = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(hub)))


def is_repo_id(name: str) -> bool:
    """Whether ``name`` has the form of a Hub model id ``org/name`` (huggingface_hub's rules)."""
    return bool(_REPO_ID.fullmatch(name)) and _SEPARATOR not in name and ".." not in name \
        and not name.split("/")[1].startswith((".", "-")) and not name.endswith((".", "-"))


@dataclass(frozen=True)
class CacheLookup:
    """Where a repository was looked for: the cache, and the snapshot found (None: not cached)."""

    cache: Path
    repo_id: str
    snapshot: Path | None
    #: Why nothing was found, in a few words ("it does not exist", "no models--org--name").
    reason: str = ""


def _repo_folder(cache: Path, repo_id: str) -> Path | None:
    """``models--org--name`` in ``cache``: the exact name, else the one whose name differs only in case
    (the Hub's ids are case-insensitive; the folder keeps the case the downloader used)."""
    exact = cache / _SEPARATOR.join(["models", *repo_id.split("/")])
    if exact.is_dir():
        return exact
    want = exact.name.lower()
    try:
        with os.scandir(cache) as it:
            found = sorted(e.name for e in it if e.name.lower() == want and e.is_dir())
    except OSError as e:
        raise DataError(f"{cache}: cannot read the Hugging Face cache: {e.strerror or e}") from None
    if len(found) > 1:
        raise DataError(f"{cache}: the Hugging Face cache holds {', '.join(found)}, which differ only in case; "
                        "name the snapshot directory instead")
    return cache / found[0] if found else None


def _listing(path: Path) -> list[str]:
    """Sorted entry names of a directory ([] when it is missing); DataError when unreadable."""
    try:
        return sorted(os.listdir(path)) if path.is_dir() else []
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None


def _refs(folder: Path) -> list[str]:
    """Every ref name cached for a repository (``main``, ``refs/pr/1``), sorted."""
    root = folder / "refs"
    out = []
    for dirpath, _dirs, files in os.walk(root):
        out += [os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/") for f in files]
    return sorted(out)


def _cached_revisions(folder: Path) -> str:
    """What is cached for a repository, in words (refs and snapshot commits)."""
    refs = _refs(folder)
    shots = [s for s in _listing(folder / "snapshots") if _COMMIT.fullmatch(s)]
    parts = [f"refs {', '.join(refs)}" if refs else "no refs",
             f"snapshots {', '.join(s[:12] for s in shots)}" if shots else "no snapshots"]
    return "; ".join(parts)


def find_snapshot(repo_id: str, revision: str | None = None) -> CacheLookup:
    """The snapshot directory of ``repo_id`` at ``revision`` (default ``main``) in the cache.

    Not cached at all (no cache, no folder for the repository): a lookup with ``snapshot=None`` and
    the reason. A cache that is not a readable directory, a revision that is not cached, or a ref
    that does not point at a cached snapshot: DataError, one line, naming the path.
    """
    cache = cache_dir()
    try:
        return _find(cache, repo_id, revision)
    except OSError as e:  # a stat that is refused (EACCES on a path inside the cache)
        raise DataError(f"{e.filename or cache}: cannot read the Hugging Face cache: {e.strerror or e}") from None


def _find(cache: Path, repo_id: str, revision: str | None) -> CacheLookup:
    """``find_snapshot`` in ``cache`` (OSError escapes to the caller, which words it)."""
    if not os.path.lexists(cache):
        return CacheLookup(cache, repo_id, None, "it does not exist")
    if not cache.is_dir():
        raise DataError(f"{cache}: the Hugging Face cache (HF_HUB_CACHE / HF_HOME) is not a directory")
    folder = _repo_folder(cache, repo_id)
    if folder is None:
        name = _SEPARATOR.join(["models", *repo_id.split("/")])
        return CacheLookup(cache, repo_id, None, f"no {name}")
    rev = _DEFAULT_REVISION if revision is None else revision
    if not _REVISION.fullmatch(rev) or ".." in rev.split("/") or "//" in rev:
        raise UsageError(f"revision {quote_value(rev)} of {repo_id} is not a branch, tag or commit name")
    snapshots = folder / "snapshots"
    if _COMMIT.fullmatch(rev) and (snapshots / rev).is_dir():
        return CacheLookup(cache, repo_id, snapshots / rev)
    ref = folder / "refs" / rev
    if not ref.is_file():
        raise DataError(f"{folder}: revision {quote_value(rev)} of {repo_id} is not in the Hugging Face cache "
                        f"({_cached_revisions(folder)}); download it, or name a cached revision with "
                        f"{repo_id}@REVISION")
    commit = read_text_file(ref, "Hugging Face cache ref", limit=_MAX_REF_BYTES).strip()
    if not _COMMIT.fullmatch(commit):
        raise DataError(f"{ref}: a Hugging Face cache ref should hold a 40-hex commit hash, not {quote_value(commit)}")
    if not (snapshots / commit).is_dir():
        raise DataError(f"{ref}: points at commit {commit}, which has no directory in {snapshots}")
    return CacheLookup(cache, repo_id, snapshots / commit)
