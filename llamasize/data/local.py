"""Load a model the user has on disk: a checkpoint directory, a ``config.json`` or a ``.gguf`` file.

This is the one entry point every resolution path ends in once it has a local path (an explicit
path, a Hugging Face cache snapshot); see ``data/resolve`` (issue 11) for the order in which names
are tried.

- a ``.gguf`` file: the spec and the tensors from the file's own metadata (``gguf_file``);
- a directory with ``config.json``: the architecture from the config (``hfconfig``); when it also
  holds ``model.safetensors.index.json`` or ``*.safetensors`` shards, their headers (never their
  data) are read and attached as ``ModelSpec.checkpoint`` (``checkpoint``): parameters and weight
  bytes in the checkpoint's own format are then exact (checkpoint). A directory with only
  ``config.json`` (a cache snapshot that fetched the config alone) is counted by architecture;
- a directory without ``config.json`` but with exactly one ``.gguf`` file: that file;
- a ``config.json`` file: the architecture only (the shards beside it are not read; name the
  directory for them);
- a ``*.safetensors`` shard or the shard index: the directory holding it.
"""

from __future__ import annotations

from pathlib import Path

from llamasize.data.checkpoint import has_safetensors, read_safetensors_dir
from llamasize.data.gguf_file import load_gguf
from llamasize.data.hfconfig import load_hf_config
from llamasize.data.safetensors_header import INDEX_NAME
from llamasize.data.spec import ModelSpec
from llamasize.errors import DataError
from llamasize.files import parse_json, read_text_file


def _config(directory: Path) -> dict | None:
    """``config.json`` as a dict (already validated by ``load_hf_config``), for quantization hints."""
    data = parse_json(read_text_file(directory / "config.json", "config.json"), str(directory / "config.json"))
    return data if isinstance(data, dict) else None


def load_local_model(path: Path, *, name_hint: str | None = None) -> ModelSpec:
    """A spec from a local path (module docstring). ``name_hint`` (a repository id the path was found
    under, e.g. from the HF cache) names the spec when given; otherwise the config's
    ``_name_or_path``, the directory or the file name does."""
    path = Path(path)
    if path.is_file() and (path.suffix == ".safetensors" or path.name == INDEX_NAME):
        path = path.parent  # a shard or the index names its checkpoint directory
    if path.suffix.lower() == ".gguf" and not path.is_dir():
        return load_gguf(path, name_hint=name_hint)
    if path.is_dir() and not (path / "config.json").exists():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return load_gguf(ggufs[0], name_hint=name_hint)
        if ggufs:
            raise DataError(f"{path}: holds {len(ggufs)} .gguf files and no config.json; name one of them")
        if has_safetensors(path):
            raise DataError(f"{path}: has safetensors shards but no config.json (the architecture, needed for "
                            "the KV cache and speed, is in config.json)")
    spec = load_hf_config(path)
    if name_hint:
        spec = spec.model_copy(update={"name": f"{name_hint} (config.json)"})
    if not path.is_dir() or not has_safetensors(path):
        return spec
    _, summary = read_safetensors_dir(path, _config(path))
    note = (f"parameters and weight bytes from the safetensors headers of {len(summary.files)} shard(s): "
            f"{summary.tensor_count:,} tensors")
    return spec.model_copy(update={"checkpoint": summary, "notes": [*spec.notes, note]})
