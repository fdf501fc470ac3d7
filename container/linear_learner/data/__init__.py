"""data layer (see ../shared/docs/architecture.md)."""
