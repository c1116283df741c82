"""Controllers of the sandbox: each a small loop over the store, never over HTTP."""
