"""``python -m satchel.cli``: the same as the ``satchel`` command."""

import sys

from satchel.cli import main

sys.exit(main())
