"""The ``rivulet`` command: terminal counterparts of the management API.

Exit status is 0 on success, 1 for runtime errors (Redis unreachable, unknown
channel, a refused operation, ``check`` finding offenders), 2 for usage errors
and 130 after Ctrl-C; every failure is one line
on stderr, never a traceback. The commands live in :mod:`.channels`,
:mod:`.subscribers` and :mod:`.messages`; this module holds the group that runs
them and turns their failures into exit statuses.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from .. import __version__
from ..exceptions import RivuletError
from ..retry import RetryPolicy
from .channels import channels, delete, prune, retention
from .checks import check
from .messages import post, tail
from .options import GROUP_URL_KEY
from .output import safe
from .subscribers import clients, lag, move, remove

#: Commands that live in other packages, imported only when run (the dashboard
#: pulls in Flask, which ``rivulet channels`` has no use for).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {"dashboard": ("dashboard.cli", "dashboard")}

#: A command gives up on an unreachable Redis after this long.
RETRY = RetryPolicy(budget_s=2.0)


def _error(message: str) -> None:
    click.echo(f"Error: {safe(' '.join(message.split()))}", err=True)


#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def _report(error: BaseException) -> int:
    """Print ``error`` as one line on stderr; return the exit status it calls for."""
    if isinstance(error, click.UsageError):
        hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
        _error(error.format_message() + hint)
        return 2
    if isinstance(error, click.ClickException):
        _error(error.format_message())
        return error.exit_code
    if isinstance(error, KeyboardInterrupt) or (
            isinstance(error, click.Abort) and isinstance(error.__cause__, KeyboardInterrupt)):
        # Ctrl-C: the shell's convention, 128 + SIGINT, so scripts see it was cut short.
        return INTERRUPTED
    if isinstance(error, click.Abort):
        _error("aborted")
        return 1
    if isinstance(error, (RivuletError, ValueError, TypeError, OSError)):
        _error(str(error) or type(error).__name__)
        return 1
    _error(f"unexpected {type(error).__name__}: {error}")
    return 1


class RivuletGroup(click.Group):
    """A click group whose ``main`` turns every failure into one line on stderr
    and an exit status, and that imports :data:`LAZY_COMMANDS` only when run."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        for stream in (sys.stdout, sys.stderr):
            # What the terminal cannot show is escaped rather than fatal.
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors="backslashreplace")
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False,
                                  windows_expand_args=windows_expand_args, **extra)
            code = result if isinstance(result, int) else 0
        except BrokenPipeError:
            # The reader went away (`rivulet tail -f | head`): stop quietly.
            with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = 1
        except (Exception, KeyboardInterrupt) as error:
            code = _report(error)
        if standalone_mode:
            sys.exit(code)
        return code

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            with contextlib.suppress(ImportError):
                command = self._load(cmd_name)
        return command

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name in LAZY_COMMANDS and super().get_command(ctx, name) is None:
            try:
                return name, self._load(name), args[1:]
            except ImportError as error:
                raise click.ClickException(f"'{name}' is not available: {error}") from None
        return super().resolve_command(ctx, args)

    @staticmethod
    def _load(name: str) -> click.Command:
        module, attribute = LAZY_COMMANDS[name]
        command = getattr(importlib.import_module(module), attribute, None)
        if not isinstance(command, click.Command):
            raise ImportError(f"{module}.{attribute} is not a click command")
        return command


def _keep_group_url(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta[GROUP_URL_KEY] = value


@click.group(name="rivulet", cls=RivuletGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rivulet")
@click.option("--redis-url", metavar="URL", expose_value=False, callback=_keep_group_url,
              help="The Redis to manage, for any command (as the commands' own option).")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Inspect and manage rivulet channels in Redis.

    Exit status: 0 ok, 1 runtime error (or `check` found offenders), 2 usage error,
    130 interrupted (Ctrl-C).
    """
    if ctx.invoked_subcommand is None:
        # A usage error like any other: one line, pointing at the help.
        assert isinstance(ctx.command, click.Group)
        raise click.UsageError(
            f"missing a command ({', '.join(ctx.command.list_commands(ctx))})", ctx)


for _command in (channels, lag, check, clients, post, tail, prune, delete, move, remove, retention):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rivulet`` command line; return its exit status."""
    return int(cli.main(args=argv, prog_name="rivulet", standalone_mode=False))
