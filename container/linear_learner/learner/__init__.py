"""learner layer (see ../shared/docs/architecture.md)."""
