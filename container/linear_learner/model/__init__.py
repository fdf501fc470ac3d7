"""model layer (see ../shared/docs/architecture.md)."""
