"""codecs layer (see ../shared/docs/architecture.md)."""
