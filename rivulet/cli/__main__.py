"""``python -m rivulet.cli``: the same as the ``rivulet`` console script."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
