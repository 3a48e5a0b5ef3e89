"""``python -m netclock``."""

import sys

from netclock.cli import main

sys.exit(main())
