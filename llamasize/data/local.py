"""Load a model the user has on disk: a checkpoint directory, a ``config.json`` or a ``.gguf`` file.

This is the one entry point every resolution path ends in once it has a local path (an explicit
path, a Hugging Face cache snapshot); see ``data/resolve`` (issue 11) for the order in which names
are tried. Today it reads ``config.json`` (a file, or a directory holding one) through
``hfconfig``; checkpoint metadata (safetensors headers, GGUF) plugs in here.
"""

from __future__ import annotations

from pathlib import Path

from llamasize.data.hfconfig import load_hf_config
from llamasize.data.spec import ModelSpec


def load_local_model(path: Path, *, name_hint: str | None = None) -> ModelSpec:
    """A spec from a local path: a directory with ``config.json``, or a ``config.json`` file.

    ``name_hint`` (a repository id the path was found under, e.g. from the HF cache) names the
    spec when given; otherwise the config's ``_name_or_path`` or the directory name does.
    """
    del name_hint  # used once checkpoint readers land; the config path names the spec today
    return load_hf_config(Path(path))
