"""The command line: the typer app, its commands, and the one place that maps outcomes to exit codes.

Commands live in one module per group (``estimate_cmds``, ``plan_cmds``, ``infra``, ``runtime``);
their flags are declared once in ``options`` and turned into core requests in ``inputs``. This module
imports the groups and registers their commands; nothing imports it back.

Results go to stdout; warnings, notes and errors to stderr. Every error is one line
(``llamasize: error: ...``) with the exit code of ``errors.ExitCode``; a traceback only with
``--debug`` (or ``LLAMASIZE_DEBUG=1``).
"""

import functools
import os
import sys
from typing import Annotated

import typer

from llamasize.cli import calibrate_cmd, estimate_cmds, infra, plan_cmds, runtime
from llamasize.errors import ExitCode, LlamasizeError
from llamasize.text import escape_controls

#: Command name -> function, in the order ``llamasize --help`` lists them.
COMMANDS = {
    "models": estimate_cmds.models_cmd,
    "gpus": estimate_cmds.gpus_cmd,
    "params": estimate_cmds.params_cmd,
    "fit": estimate_cmds.fit_cmd,
    "perf": estimate_cmds.perf_cmd,
    "plan": plan_cmds.plan_cmd,
    "sweep": plan_cmds.sweep_cmd,
    "cost": plan_cmds.cost_cmd,
    "frontier": plan_cmds.frontier_cmd,
    "check": infra.check_cmd,
    "terraform-external": infra.terraform_external_cmd,
    "schema": infra.schema_cmd,
    "detect": runtime.detect_cmd,
    "verify": runtime.verify_cmd,
    "run": runtime.run_cmd,
    "calibrate": calibrate_cmd.calibrate_cmd,
}
HELP = "Deployment planner and hardware sizing calculator for Llama 4 and other dense and MoE LLMs."


def make_app(names=None) -> typer.Typer:
    """The typer app with the commands ``names`` (default: all of them). It stays a command group
    with one command too, so ``llamasize NAME ...`` parses the same either way."""
    application = typer.Typer(
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        help=HELP,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for name in names or COMMANDS:
        application.command(name)(COMMANDS[name])
    application.callback()(_group)
    return application


def _print_version(value: bool) -> None:
    """``llamasize --version``: print ``llamasize X.Y.Z`` and stop (an eager option: before any command)."""
    if value:
        from llamasize import __version__

        sys.stdout.write(f"llamasize {__version__}\n")
        raise typer.Exit(ExitCode.OK)


def _group(version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                                 help="Print llamasize's version and exit.")] = False) -> None:
    """Deployment planner and hardware sizing calculator for Llama 4 and other dense and MoE LLMs."""


@functools.lru_cache(maxsize=None)
def _click_command(name: str | None):
    """The click command of ``llamasize NAME`` (a group holding only that command), or of the whole
    app for ``None``; built once per process (inspecting the signatures is most of an in-process
    run's cost, and the click command keeps no state between invocations)."""
    return typer.main.get_command(make_app([name]) if name is not None else app)


def _command_for(argv: list[str]):
    """The click command to run: for ``llamasize NAME ...`` a group holding only that command
    (start-up: the other commands' parameters are never built), else the whole app."""
    return _click_command(argv[0] if argv and argv[0] in COMMANDS else None)


app = make_app()


# ------------------------------------------------------------------------------- error funnel ---
def _debug_wanted(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("LLAMASIZE_DEBUG", "") not in ("", "0")


def _is_usage_error(e: Exception) -> bool:
    """Click's (or typer's vendored click's) UsageError family, recognised without importing click."""
    return any(cls.__name__ == "UsageError" for cls in type(e).__mro__) and hasattr(e, "format_message")


#: Commands that run the numpy runtime: BLAS is pinned to one thread for them (unless the user set
#: the variables), because a multi-threaded BLAS stalls badly when another process holds a core and
#: the measurements would then say more about the machine's load than about the model.
RUNTIME_COMMANDS = ("verify", "run")
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _pin_blas_threads(argv: list[str]) -> None:
    """One BLAS thread for the runtime commands and for ``--gpu local`` (which may measure this
    CPU), when numpy is not imported yet."""
    if "numpy" in sys.modules or not argv or (argv[0] not in RUNTIME_COMMANDS and "local" not in argv):
        return
    for var in BLAS_THREAD_VARS:
        os.environ.setdefault(var, "1")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map every outcome to an exit code and at most one stderr line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _pin_blas_threads(argv)
    command = _command_for(argv)
    debug = _debug_wanted(argv)
    try:
        rv = command.main(args=argv, prog_name="llamasize", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except typer.Exit as e:
        code = e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("llamasize: interrupted\n")
        code = 130
    except LlamasizeError as e:
        if debug:
            import traceback

            traceback.print_exc()
        _error_line(str(e))
        code = e.exit_code
    except BrokenPipeError:  # the reader closed the pipe (``| head``): end quietly, as a pipe expects
        _silence_stdout()
        code = ExitCode.OK
    except (OSError, RuntimeError) as e:
        message = _path_problem(e)
        if message is None:
            code = _internal(e, debug)
        else:
            _error_line(message)
            code = ExitCode.USAGE
    except Exception as e:  # noqa: BLE001 - the one place that maps crashes to an exit code
        if _is_usage_error(e):
            if type(e).__name__ == "NoArgsIsHelpError" and e.ctx is not None:
                sys.stdout.write(e.ctx.get_help() + "\n")
                code = ExitCode.OK
            else:
                ctx = getattr(e, "ctx", None)
                sub = ctx.info_name if ctx is not None and ctx.parent is not None else None
                hint = f" (see 'llamasize {sub} --help')" if sub else " (see 'llamasize --help')"
                _error_line(f"{e.format_message()}{hint}")
                code = ExitCode.USAGE
        else:
            code = _internal(e, debug)
    if code == ExitCode.OUTPUT:  # already reported; what is still buffered cannot be written either
        _silence_stdout()
    else:
        try:  # flush now: a failure at interpreter exit would print "Exception ignored" and exit 120
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
        except OSError as e:
            _error_line(f"cannot write the report to stdout: {e.strerror or e}")
            _silence_stdout()
            code = ExitCode.OUTPUT
    sys.exit(int(code))


#: Longest error message printed; past it the message is cut and its length stated (a value the
#: user gave may be echoed inside it, and an 8,000-character value should not fill the terminal).
MAX_ERROR_CHARS = 1000


def _error_line(message: str) -> None:
    """Write ``llamasize: error: MESSAGE`` as exactly one line: every control, line-break and bidi
    character escaped ``repr``-style (a newline in a value the user gave cannot forge a second
    ``llamasize: error:`` line, nor an escape sequence reach the terminal), cut at MAX_ERROR_CHARS."""
    text = escape_controls(message)
    if len(text) > MAX_ERROR_CHARS:
        text = f"{text[:MAX_ERROR_CHARS]}… (message cut: {len(text):,} characters)"
    from llamasize.cli.output import label

    sys.stderr.write(f"llamasize: {label('error:', '1;31')} {text}\n")


def _internal(e: BaseException, debug: bool) -> int:
    """Report a bug in llamasize: one line (a traceback with --debug); exit 70."""
    if debug:
        import traceback

        traceback.print_exc()
    detail = escape_controls(f"{type(e).__name__}: {e}")[:MAX_ERROR_CHARS]
    sys.stderr.write(f"llamasize: internal error: {detail} (run with --debug for a traceback)\n")
    return ExitCode.INTERNAL


def _path_problem(e: BaseException) -> str | None:
    """The one-line message of a file-system error about a path the user named (a name too long,
    a symlink loop, a path through a file, no permission), or None for anything else (a bug).
    The path is quoted with control characters escaped and cut at 200 characters."""
    from llamasize.text import quote_value

    if isinstance(e, OSError) and e.filename is not None:
        return f"{quote_value(str(e.filename))}: {e.strerror or e}"
    if isinstance(e, RuntimeError) and str(e).startswith("Symlink loop from "):
        return f"{quote_value(str(e)[len('Symlink loop from '):].strip(chr(39)))}: symlink loop"
    return None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so nothing is written (or fails) again at interpreter exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by a non-file object (tests)
        pass
