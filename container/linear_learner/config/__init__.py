"""config layer (see ../shared/docs/architecture.md)."""
