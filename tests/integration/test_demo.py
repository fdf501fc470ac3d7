"""The main-job command's pipeline on a reduced sample: local_test/demo.py run as a user would run it
(real `linear-learner train` and `serve` subprocesses, SDK serializers), then its printout, its
summary and each job's output/data checked against the training logs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "local_test" / "demo.py"
CLASSES = ["Fair", "Good", "Very Good", "Premium", "Ideal"]
FINAL = re.compile(r"#quality_metric: host=\S+, (\w+) (\S+) <(?:score|loss)>=(\S+)$")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    work = tmp_path_factory.mktemp("demo_work")
    cmd = [sys.executable, str(DEMO), "--sample", "6000", "--work", str(work)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run, work


def printed_row(stdout: str, label: str) -> list[float]:
    line = next(line for line in stdout.splitlines() if line.strip().startswith(label))
    return [float(x) for x in line.split()[-2:]]


def logged_final(train_log: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for line in train_log.read_text().splitlines():
        m = FINAL.search(line)
        if m and "epoch=" not in line:
            out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    return out


def test_progress_and_both_runs_are_printed(demo) -> None:
    stdout = demo[0].stdout
    assert "[data] ggplot2 diamonds: 6,000 rows" in stdout
    assert "split 80/10/10 (seed 0): train 4,800, validation 600, test 600" in stdout
    for tag in ("default", "balanced"):
        assert f"[{tag}]   epoch 0: validation" in stdout
        assert re.search(rf"\[{tag}\]   accuracy \S+ agrees with the training log", stdout)
    assert "Confusion matrices, row-normalised" in stdout


def test_printed_metrics_equal_the_summary_and_tell_the_articles_story(demo) -> None:
    stdout, work = demo[0].stdout, demo[1]
    summary = json.loads((work / "summary.json").read_text())
    results = summary["results"]
    assert summary["test_rows"] == 600 and summary["classes"] == CLASSES
    assert printed_row(stdout, "Accuracy") == [
        round(results[t]["accuracy"], 3) for t in ("default", "balanced")
    ]
    assert printed_row(stdout, "Macro recall") == [
        round(results[t]["macro_recall"], 3) for t in ("default", "balanced")
    ]
    for cls in CLASSES:
        got = printed_row(stdout, cls + " ")
        assert got == [round(results[t]["per_class_recall"][cls], 3) for t in ("default", "balanced")]
    default, balanced = results["default"], results["balanced"]
    # The article: balancing trades accuracy for recall on the rare classes (Fair 3%, Good 9% of rows).
    # Macro recall is left to the full-data test of issue 2: on 600 test rows it is too noisy to assert.
    for rare in ("Fair", "Good"):
        assert balanced["per_class_recall"][rare] > default["per_class_recall"][rare]
    assert balanced["accuracy"] < default["accuracy"]
    for r in results.values():
        counts = np.array(r["confusion_matrix"])
        assert counts.sum() == 600
        assert np.isclose(np.trace(counts) / 600, r["accuracy"])


@pytest.mark.parametrize("tag", ["default", "balanced"])
def test_each_jobs_report_matches_its_log_and_the_endpoint(demo, tag: str) -> None:
    work = demo[1]
    job = work / tag
    served = json.loads((work / "summary.json").read_text())["results"][tag]
    data = job / "output" / "data"
    doc = json.loads((data / "metrics.json").read_text())
    logged = logged_final(job / "train.log")
    assert set(logged) == {"validation", "test"}
    for channel, metrics in logged.items():
        assert doc["channels"][channel]["metrics"] == metrics
    assert doc["class_names"] == CLASSES and doc["report_channel"] == "test"
    test = doc["channels"]["test"]
    assert test["confusion_matrix"] == served["confusion_matrix"]  # endpoint == training's evaluation
    assert test["metrics"]["multiclass_accuracy"] == pytest.approx(served["accuracy"], abs=1e-12)
    assert doc["plots"] == ["confusion_matrix.png", "per_class_recall.png"]
    for name in doc["plots"]:
        image = imread(data / name)
        assert image.ndim == 3 and min(image.shape[:2]) > 200 and image.std() > 0.01
    assert (job / "model" / "model_algo-1").is_file() and (job / "output" / "success").exists()
    magic = (0xCED7230A).to_bytes(4, "little")  # RecordIO, as the SDK's writer frames it
    assert all((job / "input" / "data" / c / "data.rec").read_bytes()[:4] == magic for c in ("train", "test"))
