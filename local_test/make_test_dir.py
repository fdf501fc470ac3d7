"""Regenerate local_test/test_dir: a small real job (Fisher's iris, 3 classes) in SageMaker's layout.

    input/config/hyperparameters.json   strings, as the SageMaker SDK sends them
    input/config/inputdataconfig.json   text/csv channels in File mode
    input/data/{train,validation,test}/iris.csv   label first, no header (80/10/10, shuffled, seed 0)
and local_test/payload.csv / payload.json: the test rows' features, for predict.sh.

The files are committed (a few KB) so train_local.sh works without running this; run it again only to
change the job:  python local_test/make_test_dir.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris

HERE = Path(__file__).resolve().parent
HYPERPARAMETERS = {
    "predictor_type": "multiclass_classifier",
    "num_classes": "3",
    "mini_batch_size": "10",
    "epochs": "20",
    "class_names": '["setosa", "versicolor", "virginica"]',
}


def rows(X: np.ndarray, y: np.ndarray | None = None) -> str:
    data = X if y is None else np.column_stack([y, X])
    return "".join(",".join(f"{v:g}" for v in row) + "\n" for row in data)


def main() -> None:
    iris = load_iris()
    X, y = iris.data, iris.target.astype(np.float64)
    assert list(iris.target_names) == json.loads(HYPERPARAMETERS["class_names"])
    idx = np.random.default_rng(0).permutation(len(y))
    a, b = int(0.8 * len(y)), int(0.9 * len(y))
    parts = {"train": idx[:a], "validation": idx[a:b], "test": idx[b:]}
    base = HERE / "test_dir"
    config = base / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(HYPERPARAMETERS, indent=2) + "\n")
    channels = {c: {"ContentType": "text/csv", "TrainingInputMode": "File"} for c in parts}
    (config / "inputdataconfig.json").write_text(json.dumps(channels, indent=2) + "\n")
    for name, rows_of in parts.items():
        folder = base / "input" / "data" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "iris.csv").write_text(rows(X[rows_of], y[rows_of]))
    test = X[parts["test"]]
    (HERE / "payload.csv").write_text(rows(test))
    (HERE / "payload.json").write_text(
        json.dumps({"instances": [{"features": r.tolist()} for r in test]}) + "\n"
    )
    print(f"wrote {base} ({', '.join(f'{k} {len(v)}' for k, v in parts.items())} rows) and payload.csv/json")


if __name__ == "__main__":
    main()
