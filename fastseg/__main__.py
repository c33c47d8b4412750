"""``python -m fastseg``: the same as the ``fastseg`` command."""

import sys

from fastseg.cli import main

sys.exit(main())
