"""Which process this is, without a system call per question.

``os.getpid()`` is a system call every time (glibc stopped caching it), and
the write path asks on every call whether it still runs in the process that
opened its connection. :func:`generation` answers from memory: it changes in
a child made by ``os.fork()`` (and so by multiprocessing's fork start
method), through ``os.register_at_fork``. A fork made behind Python's back
(a C extension calling ``fork()`` itself) runs no hooks; such a child must
not use the parent's clients, as with any socket-holding library.
"""

from __future__ import annotations

import os

_generation = 0


def _forked() -> None:
    global _generation
    _generation += 1


os.register_at_fork(after_in_child=_forked)


def generation() -> int:
    """A number that differs in every forked child from its parent's."""
    return _generation
