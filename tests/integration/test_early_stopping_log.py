"""The built-in's per-epoch early-stopping lines (reference §5.3), end to end.

An epoch that improves logs `Epoch N: Loss improved. Updating best model`; one that does not logs
`Epoch N: Loss has not improved for K epochs (early_stopping_patience=P).`, K counting the streak
including this epoch (1, 2, ...), and the job stops once K reaches the patience. (An earlier version
counted 0, 1, 2 and stopped after "2 epochs" with patience 3, which a new user found misleading.)
"""

from __future__ import annotations

import os
import re

import numpy as np
from sklearn.datasets import load_breast_cancer

from support.jobs import train_job
from support.opt_ml import split_80_10_10

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")


def test_epochs_without_improvement_are_logged_and_counted(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    train, validation, _ = split_80_10_10(X.astype(np.float32), y.astype(np.float32))
    hp = {
        "predictor_type": "binary_classifier",
        "num_models": 1,
        "epochs": 6,
        "mini_batch_size": 50,
        "early_stopping_patience": 3,
        "early_stopping_tolerance": 10,  # a 1000 % gain is needed: only the first epoch improves
    }
    run = train_job(tmp_path, hp, {"train": train, "validation": validation})
    assert run.returncode == 0, run.log[-3000:]
    improved = re.findall(r"Epoch (\d+): Loss improved\. Updating best model", run.log)
    stalled = re.findall(
        r"Epoch (\d+): Loss has not improved for (\d+) epochs \(early_stopping_patience=3\)", run.log
    )
    assert improved == ["0"]
    assert [(int(e), int(k)) for e, k in stalled] == [(1, 1), (2, 2), (3, 3)]
    assert run.log.index("Epoch 3: Loss has not improved") < run.log.index("Early stop condition met")
    assert run.extra["epochs_run"] == 4
