"""Command-line values: parsers turned into click callbacks, the options every
command shares, and the :class:`Admin` that ``--redis-url`` names."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from ..admin import Admin
from ..exceptions import ConnectionError, TimeoutError
from ..models import ChannelInfo
from ..names import validate_name
from ..urls import DEFAULT_URL, cluster_url_for, mask_url

#: The value that clears a retention cap.
NO_CAP = "none"

T = TypeVar("T")
Callback = Callable[[click.Context, click.Parameter, Any], Any]


def argv_text(value: str) -> str:
    """An argument as UTF-8 text even under a C locale, where Python hands
    non-ASCII bytes over as surrogate escapes."""
    if value.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    try:
        return os.fsencode(value).decode("utf-8")
    except UnicodeDecodeError:
        return value  # the caller reports it as invalid text


def checked(parse: Callable[[str], T]) -> Callback:
    """A click callback that turns ``parse``'s ValueError into a usage error."""
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> T | None:
        if value is None:
            return None
        try:
            return parse(argv_text(value))
        except ValueError as error:  # InvalidNameError is one
            raise click.BadParameter(str(error), ctx, param) from None
    return callback


def parse_client_id(value: str) -> str:
    return validate_name(value, "client id")


def parse_src(value: str) -> str:
    return validate_name(value, "src")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_seconds(value: str) -> float:
    """``90``, ``1.5m``, ``2h``, ``7d`` as seconds: finite and >= 0."""
    text = value.strip().lower()
    scale = _UNITS.get(text[-1:])
    try:
        number = float(text[:-1] if scale else text) * (scale or 1)
    except ValueError:
        raise ValueError(f"{value!r} is not a number of seconds (units s, m, h, d)") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} is not a finite number of seconds >= 0")
    return number


def parse_count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{value!r} is below 0")
    return number


def parse_index(value: str) -> int | str:
    """A message id, ``earliest`` or ``latest``."""
    word = value.strip().lower()
    if word in ("earliest", "latest"):
        return word
    try:
        return parse_count(word)
    except ValueError:
        raise ValueError(f"{value!r} is not a message id, 'earliest' or 'latest'") from None


def cap(parse: Callable[[str], T]) -> Callable[[str], T | str]:
    """``parse``, or ``none`` (:data:`NO_CAP`): remove the cap."""
    def parse_cap(value: str) -> T | str:
        return NO_CAP if value.strip().lower() == NO_CAP else parse(value)
    return parse_cap


COUNT = click.IntRange(min=0)

#: Where the group keeps a ``--redis-url`` given before the subcommand.
GROUP_URL_KEY = "rivulet.redis_url"


def group_url(ctx: click.Context | None) -> str | None:
    """The ``--redis-url`` given before the subcommand, if any."""
    while ctx is not None:
        if GROUP_URL_KEY in ctx.meta:
            return str(ctx.meta[GROUP_URL_KEY])
        ctx = ctx.parent
    return None


def _prefer_group_url(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # `rivulet --redis-url URL lag` and `rivulet lag --redis-url URL` both work;
    # given after the subcommand it wins, and either beats the environment.
    source = ctx.get_parameter_source(param.name or "")
    given = group_url(ctx)
    if given is not None and source is not click.core.ParameterSource.COMMANDLINE:
        return given
    return value


redis_url_option = click.option(
    "--redis-url", envvar=["RIVULET_REDIS_URL", "REDIS_URL"], default=DEFAULT_URL,
    show_default=True, show_envvar=True, metavar="URL", callback=_prefer_group_url,
    help="The Redis to manage (also accepted before the command).",
)
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print JSON (keys are the API's field names) instead of a table.")


@contextlib.contextmanager
def open_admin(url: str) -> Iterator[Admin]:
    """An :class:`Admin` with a short retry budget, closed afterwards."""
    # Looked up when called: the package must be fully imported, and whoever
    # sets rivulet.cli.RETRY (tests shorten it) is heard.
    from . import RETRY

    try:
        url = in_cluster_mode(url)
        admin = Admin(url, retry=RETRY)
    except ValueError as error:
        raise click.BadParameter(str(error), click.get_current_context(silent=True),
                                 param_hint="'--redis-url'") from None
    try:
        yield admin
    except (ConnectionError, TimeoutError) as error:
        # Name the URL: it may have come from an environment variable.
        raise click.ClickException(f"{error} (redis url {mask_url(url)})") from error
    finally:
        admin.close()


def in_cluster_mode(url: str) -> str:
    """``url``, or its ``redis+cluster://`` form when it names a cluster node:
    through one node's plain URL, every channel on another master would
    answer MOVED. Says so on stderr, so the switch is no surprise."""
    found = cluster_url_for(url)
    if found is None:
        return url
    click.echo(f"rivulet: {mask_url(url)} is a Redis Cluster node; using cluster mode "
               f"({mask_url(found)})", err=True)
    return found


def channel_info(admin: Admin, name: str) -> ChannelInfo:
    """``admin.channel(name)``, failing on a channel whose keys cannot be read:
    its row of zeros is right in a listing, where it carries its error, but
    would be a wrong answer about that one channel."""
    info = admin.channel(name)
    if info.error is not None:
        raise click.ClickException(f"channel {name!r} cannot be read: {info.error}")
    return info
