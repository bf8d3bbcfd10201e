"""Redrawing a table in place (``lag --watch``) with plain ANSI codes.

Each frame moves the cursor home and overwrites line by line, clearing only
what is left of each line and below the last one: the screen is never blanked,
so nothing flickers. Ctrl-C restores the cursor and leaves the last frame on
screen; the group turns the interrupt into exit status 130.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import click

HOME = "\x1b[H"
CLEAR_LINE_END = "\x1b[K"
CLEAR_BELOW = "\x1b[J"
HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"


def paint(text: str) -> str:
    """One frame as the codes that draw it over the previous one."""
    lines = text.split("\n")
    return HOME + "".join(f"{line}{CLEAR_LINE_END}\n" for line in lines) + CLEAR_BELOW


def redraw(frame: Callable[[], str], interval_s: float,
           stop: threading.Event | None = None) -> None:
    """Show ``frame()`` every ``interval_s`` until ``stop`` is set or Ctrl-C.

    Not on a terminal (piped to a file), frames are printed one after another,
    separated by a blank line, since there is no screen to draw over.
    """
    stop = stop or threading.Event()
    out = sys.stdout
    on_tty = bool(getattr(out, "isatty", None) and out.isatty())
    if on_tty:
        click.echo(HIDE_CURSOR + "\x1b[2J", nl=False)  # one clear, before the first frame
    try:
        first = True
        while not stop.is_set():
            text = frame()
            if on_tty:
                click.echo(paint(text), nl=False)
            else:
                click.echo(("" if first else "\n") + text)
            out.flush()
            first = False
            # Waiting on the event: a stop() from a test or a signal ends it at once.
            stop.wait(interval_s)
    finally:
        if on_tty:
            click.echo(SHOW_CURSOR, nl=False)
            out.flush()
