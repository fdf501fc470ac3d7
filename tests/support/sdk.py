"""The SageMaker Python SDK v2 as the client: hyperparameters exactly as `LinearLearner` sends them."""

from __future__ import annotations

import os


def sdk_hyperparameters(**kwargs) -> dict[str, str]:
    """`sagemaker.LinearLearner(...).hyperparameters()` offline (a LocalSession needs no AWS account).

    The SDK only sends feature_dim and mini_batch_size from fit(RecordSet); pass them here to mimic it.
    """
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-west-2")
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    from sagemaker import LinearLearner
    from sagemaker.local import LocalSession

    extra = {k: kwargs.pop(k) for k in ("feature_dim", "mini_batch_size") if k in kwargs}
    est = LinearLearner(
        role="arn:aws:iam::123456789012:role/SageMakerRole",
        instance_count=1,
        instance_type="ml.c4.xlarge",
        sagemaker_session=LocalSession(),
        data_location="s3://bucket/prefix/",  # else the SDK asks STS for a default bucket
        **kwargs,
    )
    hps = {k: str(v) for k, v in est.hyperparameters().items()}
    hps.update({k: str(v) for k, v in extra.items()})
    return hps
