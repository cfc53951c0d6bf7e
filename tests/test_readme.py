"""The README's commands run: every ``llamasize ...`` line in a fenced block exits 0 (or 3 for a
documented does-not-fit) without a traceback, and the README documents every CLI command.

Every line runs in-process, exactly as written. The lines that are also the session's shared
runtime commands (``conftest.SHARED``: one ``verify``, two ``run``) run once for the session and
other test files assert on that same result. The bare `llamasize verify` line runs the whole command
(parsing, defaults, saving the calibration, the table, the exit code) on the session's one
measurement: see ``_bare_verify_on_the_shared_measurement``."""

from __future__ import annotations

import inspect
import re
import shlex

import pytest

from conftest import REPO, SHARED, run_cli

README = (REPO / "README.md").read_text()


def _commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    out = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("llamasize "):
                out.append(line)
    return out


COMMANDS = _commands()


def test_readme_has_examples():
    assert len(COMMANDS) >= 15


def test_shared_commands_are_readme_lines():
    """The shared verify and run commands are README lines (so the README test below runs them)."""
    for args in SHARED:
        assert "llamasize " + shlex.join(args) in COMMANDS, args


def _bare_verify_on_the_shared_measurement(monkeypatch, verified) -> list[dict]:
    """``llamasize verify`` with no flags runs for real except ``run_verify`` (the 6-second
    measurement), which records its arguments and returns the report of the session's one real
    verify (``verified``). The caller asserts the command asked for exactly the core's defaults, so
    the line is the shared measurement's code with other batch sizes and tolerance; measuring again
    would exercise the same code."""
    import llamasize.verify
    from llamasize.verify import VerifyReport

    real = llamasize.verify.run_verify
    calls: list[dict] = []

    def measured(spec, registry, **kwargs):
        calls.append({"real": real, "model": spec.id, **kwargs})
        return VerifyReport.model_validate(verified[1])

    monkeypatch.setattr(llamasize.verify, "run_verify", measured)
    return calls


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_runs(line, monkeypatch, tmp_path, shared_run, request):
    monkeypatch.chdir(REPO)
    args = shlex.split(line.split(">")[0])[1:]
    if "--svg" in args:  # write the chart into the test's temporary directory, not the checkout
        i = args.index("--svg") + 1
        args[i] = str(tmp_path / args[i])
    calls = None
    if args == ["verify"]:
        calls = _bare_verify_on_the_shared_measurement(monkeypatch, request.getfixturevalue("verified"))
    r = shared_run(*args) if tuple(args) in SHARED else run_cli(*args)
    # 3 = does not fit (documented); verify may also exit 4 (a timing outside the tolerance on a busy machine)
    allowed = (0, 3, 4) if args[0] == "verify" else (0, 3)
    assert r.code in allowed, (line, r.err)
    assert "Traceback" not in r.err
    assert r.out.strip()
    if calls is not None:  # the bare line asked the core for its defaults, saved and rendered the report
        assert len(calls) == 1, "llamasize verify no longer calls llamasize.verify.run_verify"
        call = calls[0]
        defaults = {k: p.default for k, p in inspect.signature(call["real"]).parameters.items()
                    if p.default is not inspect.Parameter.empty and k != "progress"}
        assert call["model"] == "micro-moe"
        asked = {k: call.get(k, v) for k, v in defaults.items()}  # not passed = the default
        assert asked == {**defaults, "batch_sizes": sorted(defaults["batch_sizes"])}
        if request.getfixturevalue("verified")[1]["passed"]:  # the calibration is written only from a passed run
            assert f"saved to {tmp_path / 'cache'}" in r.err
        else:
            assert "not saved: a check failed" in r.err and "saved to" not in r.err
        assert r.out.startswith("verify micro-moe on ") and "calibration for 'cpu'" in r.out


def test_every_command_is_documented():
    from typer.main import get_command

    from llamasize.cli.main import app

    for name in get_command(app).commands:
        assert f"llamasize {name}" in README, name
