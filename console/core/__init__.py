"""Pure domain logic with no I/O: model records, units, rollout verdict, GPU preflight arithmetic.

Every other package may import it; it imports nothing of llmctl's own outside itself."""
