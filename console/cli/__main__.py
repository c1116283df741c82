"""``python -m console.cli`` (what the tests run; ``llmctl`` is the installed script)."""

import sys

from console.cli import main

sys.exit(main())
