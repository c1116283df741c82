"""``python -m console``: the same as ``llmctl``."""

import sys

from console.cli import main

sys.exit(main())
