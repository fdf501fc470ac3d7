"""serving layer (see ../shared/docs/architecture.md)."""
