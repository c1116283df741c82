"""``llmctl deploy --guided [-f values.yaml]``: the console opened on the guided deployment (screens/wizard.py).

The wizard starts from the values file when one is given (else manifests/values.example.yaml, in the
namespace given with -n). Exit code: 0 when the deployment was verified (or the cluster already matched),
1 when the wizard was left before the end (its progress file resumes it), 2 for invalid values.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from console.config import Settings


def run_guided(args: argparse.Namespace, settings: Settings) -> int:
    from console import cli_top
    from console.app import LlmctlApp
    from console.cli import _cluster_service
    from console.cli_deploy import EXIT_USAGE, _values_or_exit

    wizard: dict[str, Any] = {"standalone": True}
    if args.file:
        loaded = _values_or_exit(args.file)
        if isinstance(loaded, int):
            return loaded
        if settings.namespace and settings.namespace != loaded.namespace:
            print(f"llmctl: the namespace given with -n ({settings.namespace}) is not the values' namespace "
                  f"({loaded.namespace}): change `namespace:` in {args.file}", file=sys.stderr)
            return EXIT_USAGE
        wizard.update(values=loaded, values_file=args.file)
    service, sandbox = _cluster_service(settings)
    metrics = cli_top.metrics_service(settings, sandbox)
    app = LlmctlApp(service, settings, metrics=metrics)
    app.wizard_at_start = wizard
    try:
        app.run()
    finally:
        if metrics is not None:
            metrics.close()
        if sandbox is not None:
            sandbox.stop()
    return app.return_code or 0
