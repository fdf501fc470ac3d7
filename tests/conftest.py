"""Suite-wide settings: the SageMaker SDK v2 is the test client; silence its v3 migration banner."""

import os

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-west-2")
