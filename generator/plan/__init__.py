"""MAP: legacy services to a target-neutral migration plan (pure functions, no I/O)."""
