"""Open Linear Learner: a SageMaker-compatible linear learner (train and serve)."""

__version__ = "0.1.0"
