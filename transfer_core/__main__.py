"""``python -m transfer_core`` entry point."""

import sys

from transfer_core.cli import main

sys.exit(main())
