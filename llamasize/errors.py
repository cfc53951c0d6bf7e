"""Exit codes and the exceptions the core raises; the CLI maps them to one-line messages."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (documented in the README's "Exit codes" section)."""

    OK = 0
    #: ``check``: findings at or above the failure level.
    FINDINGS = 1
    #: Bad usage or unreadable input: unknown ids, malformed YAML/JSON, impossible numbers.
    USAGE = 2
    #: ``fit``/``plan``: the deployment does not fit, or nothing fits.
    NO_FIT = 3
    #: ``verify``: a prediction is outside the tolerance.
    VERIFY_FAILED = 4
    #: A bug in llamasize itself (a traceback is shown with ``--debug``).
    INTERNAL = 70
    #: The report could not be written to stdout (disk full, I/O error; sysexits' EX_IOERR).
    OUTPUT = 74


class LlamasizeError(Exception):
    """Base class of errors with a user-facing one-line message and an exit code."""

    exit_code: ExitCode = ExitCode.USAGE


class OutputError(LlamasizeError):
    """Writing the report to stdout failed (other than the reader closing the pipe)."""

    exit_code = ExitCode.OUTPUT


class UsageError(LlamasizeError):
    """The user asked for something impossible or malformed."""


class LayoutError(UsageError):
    """A parallel layout that cannot run; ``setting`` names the offending setting (``gpus``, ``tp``, ``pp``
    or ``ep``) so callers (``check``) point at it without reading the message."""

    def __init__(self, message: str, setting: str):
        self.setting = setting
        super().__init__(message)


class UnknownIdError(UsageError):
    """An unknown model, GPU, quantization or engine id (message carries a suggestion)."""


class DataError(UsageError):
    """A spec, catalogue, config.json or workload file is unreadable or invalid."""


class UnknownValueError(LlamasizeError):
    """A quantity needs a value the data marks as unknown (e.g. Behemoth's layer count).

    Not a user mistake: the estimator catches it and reports the quantity as unknown.
    """

    def __init__(self, what: str, missing: list[str], subject: str):
        self.what = what
        self.missing = list(missing)
        self.subject = subject
        super().__init__(f"{what} is unknown: {subject} does not publish {', '.join(missing)}")
