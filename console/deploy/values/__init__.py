"""The values file behind ``llmctl render`` and ``llmctl deploy``: schema, loading, node checks."""
