"""Safe, audited changes to Deployments and HPAs: validation, plans with server dry-run, apply."""
