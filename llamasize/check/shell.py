"""Shell words of a container command: ``sh -c "..."`` scripts and ``VLLM_ADDITIONAL_ARGS`` split
into simple commands with POSIX quoting (``shlex``), the line of each word kept, and ``$(VAR)`` /
``$VAR`` / ``${VAR}`` expanded from literal env values."""

from __future__ import annotations

import re
import shlex

SHELLS = {"sh", "bash", "dash", "zsh", "ash", "ksh"}
_SEPARATORS = {";", "&&", "||", "|", "&", ";;", "|&"}
_ENV_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def substitute(tok: str, env: dict[str, str]) -> str:
    """Expand ``$(VAR)`` (Kubernetes) and ``$VAR`` / ``${VAR}`` (shell) from literal env values."""
    if "$" not in tok:
        return tok
    return _ENV_REF.sub(lambda m: env.get(m.group(1) or m.group(2) or m.group(3), m.group(0)), tok)


def shell_tokens(text: str) -> list[str]:
    """Shell words and control operators of one line (``;``, ``&&``, ``||``, ``|``, ``&``)."""
    lex = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lex.whitespace_split = True
    lex.commenters = ""
    out = []
    for tok in lex:
        if tok.startswith("#"):  # a comment: the rest of the line
            break
        out.append(tok)
    return out


def script_segments(text: str, line: int, style: str | None) -> list[list[tuple[str, int]]]:
    """A shell script (``sh -c "..."``, ``VLLM_ADDITIONAL_ARGS``) -> simple commands, each a list of
    ``(word, line)``. Lines are exact inside literal block scalars (``|``), else the scalar's line."""
    phys = text.split("\n")

    def pline(k: int) -> int:
        return line + 1 + k if style == "|" else line

    segments: list[list[tuple[str, int]]] = []
    k = 0
    try:
        while k < len(phys):
            start, buf = k, phys[k]
            while buf.endswith("\\") and k + 1 < len(phys):
                k += 1
                buf = buf[:-1] + " " + phys[k]
            end = k
            k += 1
            cur: list[tuple[str, int]] = []
            at = start
            for tok in shell_tokens(buf):
                if tok in _SEPARATORS:
                    if cur:
                        segments.append(cur)
                    cur = []
                    continue
                needle = tok.split("=", 1)[0] if tok.startswith("-") else tok
                for j in range(at, end + 1):
                    if needle and needle in phys[j]:
                        at = j
                        break
                cur.append((tok, pline(at)))
            if cur:
                segments.append(cur)
        return segments
    except ValueError:  # a quote spanning lines: tokenise the whole text at once
        try:
            words = shell_tokens(text.replace("\\\n", " "))
        except ValueError:
            words = text.split()
        segments, cur = [], []
        for tok in words:
            if tok in _SEPARATORS:
                if cur:
                    segments.append(cur)
                cur = []
            else:
                cur.append((tok, line))
        if cur:
            segments.append(cur)
        return segments
