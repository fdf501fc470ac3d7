"""Every metric line the built-in prints (reference §5), each formatter beside the regex it must match.

SageMaker scrapes stdout with the job's MetricDefinitions; HPO uses the built-in regexes below, so
tests/training/test_logs.py checks that each formatter's output is matched by its regex.
"""

from __future__ import annotations

import json
import logging
import sys
import time

log = logging.getLogger("linear_learner")

REGEXES = {
    "train:progress": r"#progress_metric: host=\S+, completed (\S+) %",
    "train:throughput": r"#throughput_metric: host=\S+, train throughput=(\S+) records/second",
    "epoch_objective": r"#quality_metric: host=\S+, epoch=\S+, {chan} \S+_objective <loss>=(\S+)",
    "final_objective": r"#quality_metric: host=\S+, {chan} \S+_objective <loss>=(\S+)",
    "score": r"#quality_metric: host=\S+, {chan} {name} <score>=(\S+)",
    "loss": r"#quality_metric: host=\S+, {chan} {name} <loss>=(\S+)",
}

SCORE_METRICS_SMALLER_IS_BETTER = ("mse", "rmse", "absolute_loss", "multiclass_log_loss")


def setup_logging(level: str = "info") -> None:
    """Log lines to stdout unbuffered, prefixed like the built-in ([time LEVEL logger])."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter("[%(asctime)s %(levelname)s %(name)s] %(message)s", "%m/%d/%Y %H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if level == "debug" else logging.INFO)


def emit(line: str) -> None:
    log.info(line)


def fmt(value: float) -> str:
    return repr(float(value))


def epoch_quality(host: str, epoch: int, channel: str, objective: str, value: float) -> str:
    return f"#quality_metric: host={host}, epoch={epoch}, {channel} {objective} <loss>={fmt(value)}"


def final_quality(host: str, channel: str, name: str, value: float, is_loss: bool) -> str:
    kind = "<loss>" if is_loss else "<score>"
    return f"#quality_metric: host={host}, {channel} {name} {kind}={fmt(value)}"


def channel_score(host: str, channel: str, name: str, value: float) -> str:
    return f"#{channel}_score ({host}) : ('{name}', {fmt(value)})"


def early_stopping(host: str, epoch: int, criteria: str, value: float) -> str:
    return f"#early_stopping_criteria_metric: host={host}, epoch={epoch}, criteria={criteria}, value={fmt(value)}"


def progress(host: str, percent: float) -> str:
    return f"#progress_metric: host={host}, completed {int(percent)} % of epochs"


def throughput(host: str, records_per_second: float) -> str:
    return f"#throughput_metric: host={host}, train throughput={fmt(records_per_second)} records/second"


def metrics_json(metrics: dict[str, float], dimensions: dict, start: float, end: float | None = None) -> str:
    body = {
        "Metrics": {k: {"count": 1, "max": v, "sum": v, "min": v} for k, v in metrics.items()},
        "EndTime": end if end is not None else time.time(),
        "Dimensions": {**dimensions, "Algorithm": "Linear Learner"},
        "StartTime": start,
    }
    return "#metrics " + json.dumps(body)


def is_loss_metric(name: str) -> bool:
    return name.endswith("_objective") or name in SCORE_METRICS_SMALLER_IS_BETTER
