"""Label rules: each wrong label is named with its line and says what is wrong with it."""

from __future__ import annotations

import numpy as np
import pytest

from linear_learner.batch import Batch
from linear_learner.data.labels import check_labels
from linear_learner.errors import ClientError

ORIGIN = "channel 'train' file 'part-0.csv'"


def _message(labels: list[float], predictor_type: str, num_classes: int | None = None) -> str:
    batch = Batch(X=np.zeros((len(labels), 2), np.float32), y=np.array(labels, np.float32), origin=ORIGIN)
    with pytest.raises(ClientError) as info:
        check_labels(batch, predictor_type, num_classes)
    return str(info.value)


@pytest.mark.parametrize(
    "labels, predictor_type, k, expected",
    [
        (
            [0, 1.5, 2],
            "multiclass_classifier",
            4,
            "line 2: label 1.5 is not an integer (labels must be integers 0..3)",
        ),
        ([0, 1, 4], "multiclass_classifier", 4, "line 3: label 4 is out of range for num_classes=4"),
        ([0, 7, 1], "multiclass_classifier", 4, "; is num_classes=4 too small?"),
        ([1, 2, 3], "multiclass_classifier", 3, "are the labels 1-based?"),
        ([-1, 0, 1], "multiclass_classifier", 3, "line 1: label -1 is out of range for num_classes=3"),
        ([0, 1, 2], "binary_classifier", None, "line 3: label 2 is not valid for binary_classifier"),
        ([0, float("nan")], "regressor", None, "line 2: label nan is not a finite number"),
    ],
)
def test_each_bad_label_is_located_and_explained(labels, predictor_type, k, expected):
    message = _message(labels, predictor_type, k)
    assert message.startswith(ORIGIN)
    assert expected in message


def test_valid_labels_pass():
    batch = Batch(X=np.zeros((3, 1), np.float32), y=np.array([0, 2, 1], np.float32), origin=ORIGIN)
    check_labels(batch, "multiclass_classifier", 3)
