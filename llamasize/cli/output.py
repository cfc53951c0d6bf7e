"""Where the CLI writes: the report to stdout, one-line warnings and notes to stderr, so that
``| jq`` always works. Also the one "nothing fits" error of the commands that print only a
recommendation."""

from __future__ import annotations

import sys

from llamasize.errors import ExitCode, LlamasizeError, OutputError
from llamasize.text import escape_controls, wants_colour


def out(text: str) -> None:
    """The report, on stdout. A closed pipe (``| head``) propagates as BrokenPipeError, which the
    error funnel ends quietly; any other write error (disk full) is an OutputError (exit 74)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise OutputError(f"cannot write the report to stdout: {e.strerror or e}") from None


def stderr_colour() -> bool:
    """Colour on stderr: ``text.wants_colour`` for stderr (the rule stdout follows too)."""
    return wants_colour(sys.stderr)


def label(word: str, sgr: str) -> str:
    """``word`` in the ANSI colour ``sgr`` when stderr is coloured (``stderr_colour``). The message
    after it is never coloured, so escaped user text stays as it was."""
    return f"\x1b[{sgr}m{word}\x1b[0m" if stderr_colour() else word


def warn(message: str) -> None:
    """One warning line on stderr (control and bidi characters escaped: one line, whatever it quotes)."""
    sys.stderr.write(f"llamasize: {label('warning:', '33')} {escape_controls(message)}\n")


def note(message: str) -> None:
    """One note line on stderr (escaped like ``warn``)."""
    sys.stderr.write(f"llamasize: note: {escape_controls(message)}\n")


class NoFitError(LlamasizeError):
    """Nothing fits (exit 3) where only a recommendation could be printed."""

    exit_code = ExitCode.NO_FIT


def raise_no_fit(suggestions: list[str]) -> None:
    """Exit 3 with the planner's suggestions in one line."""
    hint = "; ".join(suggestions) if suggestions else "no tried change fits either"
    raise NoFitError(f"nothing fits within the limits; what would: {hint}")
