"""vLLM / SGLang command lines: find the engine a command starts and read its flags into settings
(``--flag value``, ``--flag=value``, ``_``/``-`` spellings, ``--no-X`` switches; the last occurrence
wins). The flag names and which take no value are the engine vocabulary of
``llamasize.estimate.engines``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from llamasize.check.rule import Issue
from llamasize.check.shell import SHELLS, script_segments, substitute
from llamasize.check.target import Loc
from llamasize.check.yamltree import key_line, text
from llamasize.estimate.engines import BOOL_FLAGS, FLAG_SETTINGS, NO_MEMORY_FLAGS, SERVER_MODULES, VLLM_CLI_MODULE


@dataclass
class Invocation:
    """An engine started with flags: the settings found and the model named on the command line."""

    engine: str
    flags: dict[str, Loc]
    model: Loc | None
    issues: list[Issue]
    #: Flags read that llamasize does not model: ``(--name as written, line)``, first occurrence each.
    unmodelled: list[tuple[str, int]] = field(default_factory=list)


def find_invocation(seg: list[tuple[str, int]]) -> tuple[str, int, bool] | None:
    """``(engine, index of the first flag, positional model allowed)`` in one simple command."""
    for i, (tok, _) in enumerate(seg):
        base = os.path.basename(tok)
        nxt = seg[i + 1][0] if i + 1 < len(seg) else None
        if base == "vllm" and nxt == "serve":
            return "vllm", i + 2, True
        if base.startswith("python") and nxt == "-m" and i + 2 < len(seg):
            mod = seg[i + 2][0]
            if mod in SERVER_MODULES:
                return SERVER_MODULES[mod], i + 3, False
            if mod == VLLM_CLI_MODULE and i + 3 < len(seg) and seg[i + 3][0] == "serve":
                return "vllm", i + 4, True
    return None


def parse_flags(tokens: list[tuple[str, int]], engine: str, positional: bool) -> Invocation:
    """Engine flags -> settings (``--flag value``, ``--flag=value``, ``_``/``-`` spellings; the last
    occurrence wins). With ``positional`` the first bare word is the model (``vllm serve MODEL``)."""
    flags: dict[str, Loc] = {}
    model: Loc | None = None
    unmodelled: dict[str, int] = {}
    i = 0
    while i < len(tokens):
        tok, line = tokens[i]
        i += 1
        if not tok.startswith("-") or tok in ("-", "--"):
            if positional and model is None:
                model = Loc(tok, line)
            continue
        name, eq, value = tok.lstrip("-").partition("=")
        name = name.replace("_", "-")
        negated = name.startswith("no-") and name[3:] in BOOL_FLAGS
        if name in BOOL_FLAGS or negated:
            key = FLAG_SETTINGS.get(name[3:] if negated else name)
            if key:
                on = not negated if not eq else value.strip().lower() not in ("false", "0", "no")
                flags[key] = Loc(on, line)
            continue
        if not eq:
            if i < len(tokens) and (name in FLAG_SETTINGS or not tokens[i][0].startswith("-")):
                value = tokens[i][0]
                i += 1
            else:
                value = None
        key = FLAG_SETTINGS.get(name)
        if key is None:
            if name and name not in NO_MEMORY_FLAGS and name not in BOOL_FLAGS:
                unmodelled.setdefault(tok.partition("=")[0], line)
            continue
        if value is None:
            flags[key] = Loc(None, line)
        else:
            flags[key] = Loc(value, line)
    if "model" in flags and flags["model"].value is not None:
        model = flags.pop("model")
    return Invocation(engine, flags, model, [], sorted(unmodelled.items(), key=lambda x: (x[1], x[0])))


def command_items(node, default_line: int) -> list[tuple[str, int, str | None]]:
    """A command/args value -> ``(text, line, style)`` items (a bare string counts as one item)."""
    if isinstance(node, list):
        meta = getattr(node, "meta", None) or [(default_line, None)] * len(node)
        return [(text(v) or "", meta[i][0], meta[i][1]) for i, v in enumerate(node)]
    t = text(node)
    return [] if t is None else [(t, default_line, None)]


def container_invocation(container: dict, env: dict[str, str], cline: int) -> Invocation | None:
    """The engine a Kubernetes container starts, if any (argv lists and ``sh -c`` scripts)."""
    items = (command_items(container.get("command"), key_line(container, "command", cline))
             + command_items(container.get("args"), key_line(container, "args", cline)))
    shell = bool(items) and os.path.basename(items[0][0]) in SHELLS
    segments: list[list[tuple[str, int]]] = []
    cur: list[tuple[str, int]] = []
    for idx, (word, line, style) in enumerate(items):
        is_script = (shell and idx > 0 and not word.startswith("-")) or (
            any(c in word for c in " \n;") and re.search(r"vllm|sglang|huggingfaceserver", word))
        if is_script:
            if cur:
                segments.append(cur)
                cur = []
            pre = substitute(word, env)
            segments += script_segments(pre, line, style)
        else:
            cur.append((substitute(word, env), line))
    if cur:
        segments.append(cur)
    for seg in segments:
        found = find_invocation(seg)
        if found:
            engine, start, positional = found
            return parse_flags(seg[start:], engine, positional)
    image = text(container.get("image")) or ""
    if container.get("command") is None and re.search(r"vllm[-/]?openai|vllm/vllm", image):
        # the vllm/vllm-openai image's entrypoint serves; args are its flags (model positional or --model)
        tokens = [(substitute(t, env), line) for t, line, _ in command_items(container.get("args"), cline)]
        return parse_flags(tokens, "vllm", True)
    return None
