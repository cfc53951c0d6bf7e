"""Shell words of a container command: ``sh -c "..."`` scripts and ``VLLM_ADDITIONAL_ARGS`` split
into simple commands the way a POSIX shell reads them, the line of each word kept, and ``$(VAR)`` /
``$VAR`` / ``${VAR}`` expanded from literal env values.

The scanner (``shell_words``) follows the token rules of POSIX sh (Shell Command Language, 2.3 and
2.2 quoting): ``#`` at the start of a word comments out the rest of the line; backslash-newline is a
line continuation (outside single quotes); single and double quotes may span lines; newlines and
``;``, ``&&``, ``||``, ``|``, ``&`` end a simple command; ``(``, ``)``, ``{``, ``}`` and the
keywords ``then``/``do``/``else`` start a new one, and ``exec`` / ``env`` / ``VAR=value`` prefixes
are words like the others (``flags.find_invocation`` looks past them for the engine). Command
substitution ``$( ... )`` and backquotes are kept inside their word, not run. An unterminated
quote ends at the end of the script (the rest is one word), so a broken script still yields the
commands before it.
"""

from __future__ import annotations

import ast
import re

SHELLS = {"sh", "bash", "dash", "zsh", "ash", "ksh"}
_SEPARATORS = {";", "&&", "||", "|", "&", ";;", "|&", "\n", "(", ")", "{", "}"}
#: Reserved words after which a new simple command starts (``if x; then vllm serve ...``).
_COMMAND_STARTERS = {"then", "do", "else", "elif", "if", "while", "until", "!", "time"}
_OPERATORS = ("&&", "||", ";;", "|&", ";", "&", "|", "(", ")")
_ENV_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


_ARITH = re.compile(r"\$\(\(([^()]*(?:\([^()]*\)[^()]*)*)\)\)")
_NAME = re.compile(r"\$?\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_INTEGER_EXPR = re.compile(r"^[0-9\s+*/()-]+$")


def _arithmetic(m: re.Match, env: dict[str, str]) -> str:
    """``$(( A * B ))`` with every name a literal integer env value -> its value (POSIX shell
    arithmetic: integers, ``+ - * /`` with ``/`` truncating, parentheses); else left as written."""
    expr = _NAME.sub(lambda n: env.get(n.group(1), n.group(0)), m.group(1))
    if not _INTEGER_EXPR.match(expr) or len(expr) > 200:
        return m.group(0)
    try:
        def ev(node):
            if isinstance(node, ast.Expression):
                return ev(node.body)
            if isinstance(node, ast.Constant) and isinstance(node.value, int):
                return node.value
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
                return -ev(node.operand)
            if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
                a, b = ev(node.left), ev(node.right)
                if isinstance(node.op, ast.Add):
                    return a + b
                if isinstance(node.op, ast.Sub):
                    return a - b
                if isinstance(node.op, ast.Mult):
                    return a * b
                return int(a / b)
            raise ValueError
        return str(ev(ast.parse(expr.strip(), mode="eval")))
    except (ValueError, SyntaxError, ZeroDivisionError, RecursionError):
        return m.group(0)


def substitute(tok: str, env: dict[str, str]) -> str:
    """Expand ``$(VAR)`` (Kubernetes) and ``$VAR`` / ``${VAR}`` (shell) from literal env values,
    and ``$(( ... ))`` integer arithmetic whose names all have one."""
    if "$" not in tok:
        return tok
    tok = _ARITH.sub(lambda m: _arithmetic(m, env), tok)
    return _ENV_REF.sub(lambda m: env.get(m.group(1) or m.group(2) or m.group(3), m.group(0)), tok)


def _skip_substitution(s: str, i: int, out: list[str]) -> int:
    """Copy ``$( ... )`` (nested parentheses, quotes inside) starting at ``s[i] == '$'`` into ``out``;
    returns the index after it (the end of the script when it is not closed)."""
    depth, j = 0, i + 1
    while j < len(s):
        c = s[j]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                out.append(s[i:j + 1])
                return j + 1
        elif c in "'\"":
            k = s.find(c, j + 1)
            j = len(s) - 1 if k < 0 else k
        j += 1
    out.append(s[i:])
    return len(s)


def shell_words(s: str) -> list[tuple[str, int]]:
    """A script -> ``(word or operator, 0-based line)``; a newline is the operator ``"\\n"``.
    Quotes are removed as the shell removes them; the line is where the word starts."""
    out: list[tuple[str, int]] = []
    buf: list[str] = []
    started = False  # a word is open (``""`` is a word even though it is empty)
    line, start_line, i, n = 0, 0, 0, len(s)

    def end_word() -> None:
        nonlocal buf, started
        if started:
            out.append(("".join(buf), start_line))
        buf, started = [], False

    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] == "\n":  # line continuation
            line += 1
            i += 2
            continue
        if not started and c in " \t\r":
            i += 1
            continue
        if c in " \t\r":
            end_word()
            i += 1
            continue
        if c == "\n":
            end_word()
            out.append(("\n", line))
            line += 1
            i += 1
            continue
        if c == "#" and not started:  # a comment: up to the end of the line
            while i < n and s[i] != "\n":
                i += 1
            continue
        op = next((o for o in _OPERATORS if s.startswith(o, i)), None) if c in ";&|()" else None
        if op is not None:
            end_word()
            out.append((op, line))
            i += len(op)
            continue
        if not started:
            started, start_line = True, line
        if c == "'":
            k = s.find("'", i + 1)
            k = n if k < 0 else k
            chunk = s[i + 1:k]
            buf.append(chunk)
            line += chunk.count("\n")
            i = k + 1
        elif c == '"':
            j = i + 1
            while j < n and s[j] != '"':
                if s[j] == "\\" and j + 1 < n and s[j + 1] in '"\\$`\n':
                    if s[j + 1] == "\n":
                        line += 1
                    else:
                        buf.append(s[j + 1])
                    j += 2
                    continue
                if s[j] == "\n":
                    line += 1
                buf.append(s[j])
                j += 1
            i = j + 1
        elif c == "\\" and i + 1 < n:
            buf.append(s[i + 1])
            i += 2
        elif c == "$" and i + 1 < n and s[i + 1] == "(":
            i = _skip_substitution(s, i, buf)
        elif c == "`":
            k = s.find("`", i + 1)
            k = n if k < 0 else k
            buf.append(s[i:k + 1])
            i = k + 1
        else:
            buf.append(c)
            i += 1
    end_word()
    return out


def shell_tokens(text: str) -> list[str]:
    """Shell words and control operators of a script (comments dropped, newlines left out)."""
    return [w for w, _ in shell_words(text) if w != "\n"]


def script_segments(text: str, line: int, style: str | None) -> list[list[tuple[str, int]]]:
    """A shell script (``sh -c "..."``, ``VLLM_ADDITIONAL_ARGS``) -> simple commands, each a list of
    ``(word, line)``. Lines are exact inside literal block scalars (``|``), else the scalar's line."""
    segments: list[list[tuple[str, int]]] = []
    cur: list[tuple[str, int]] = []
    for word, k in shell_words(text):
        if word in _SEPARATORS or (not cur and word in _COMMAND_STARTERS):
            if cur:
                segments.append(cur)
            cur = []
            continue
        cur.append((word, line + 1 + k if style == "|" else line))
    if cur:
        segments.append(cur)
    return segments
