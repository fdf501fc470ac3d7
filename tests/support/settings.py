"""TrainSettings for trainer-level tests: the reference defaults, small, with per-test overrides."""

from __future__ import annotations

from linear_learner.training.trainer import TrainSettings

_BASE = dict(
    predictor_type="regressor",
    num_outputs=1,
    epochs=3,
    mini_batch_size=32,
    optimizer="adam",
    momentum=0.0,
    beta_1=0.9,
    beta_2=0.999,
    bias_lr_mult=10.0,
    bias_wd_mult=0.0,
    use_bias=True,
    init_method="uniform",
    init_scale=0.07,
    init_sigma=0.01,
    init_bias=0.0,
    use_lr_scheduler=True,
    lr_scheduler_step=5,
    lr_scheduler_factor=0.9,
    lr_scheduler_minimum_lr=1e-5,
    early_stopping_patience=100,  # > epochs: never stops unless a test says so
    early_stopping_tolerance=0.001,
    criterion="loss",
)


def train_settings(**overrides) -> TrainSettings:
    return TrainSettings(**{**_BASE, **overrides})
