"""training layer (see ../shared/docs/architecture.md)."""
