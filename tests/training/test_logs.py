"""Every metric line is matched by the regex SageMaker (and HPO) scrape it with (reference §5.2)."""

import re

from linear_learner.training import logs


def test_epoch_objective_matches_builtin_regex():
    line = logs.epoch_quality("algo-1", 3, "validation", "mse_objective", 51.04)
    m = re.search(logs.REGEXES["epoch_objective"].format(chan="validation"), line)
    assert m and float(m.group(1)) == 51.04


def test_final_objective_and_scores_match():
    line = logs.final_quality("algo-1", "test", "binary_classification_cross_entropy_objective", 0.0373, True)
    assert float(re.search(logs.REGEXES["final_objective"].format(chan="test"), line).group(1)) == 0.0373
    line = logs.final_quality("algo-1", "validation", "binary_f_1.000", 0.81, False)
    assert (
        float(re.search(logs.REGEXES["score"].format(chan="validation", name=r"binary_f_\S+"), line).group(1))
        == 0.81
    )
    line = logs.final_quality("algo-1", "test", "mse", 22.9, True)
    assert (
        float(
            re.search(logs.REGEXES["loss"].format(chan="test", name="(?:mse|absolute_loss)"), line).group(1)
        )
        == 22.9
    )


def test_final_objective_regex_does_not_match_epoch_lines_wrongly():
    epoch_line = logs.epoch_quality("algo-1", 0, "train", "mse_objective", 1.0)
    # the built-in "final" regex must not pick up per-epoch lines (they carry epoch=)
    assert re.search(logs.REGEXES["final_objective"].format(chan="train"), epoch_line) is None


def test_progress_and_throughput():
    assert re.search(logs.REGEXES["train:progress"], logs.progress("algo-1", 6.7)).group(1) == "6"
    line = logs.throughput("algo-1", 22743.7)
    assert float(re.search(logs.REGEXES["train:throughput"], line).group(1)) == 22743.7


def test_metrics_json_shape():
    import json

    line = logs.metrics_json(
        {"train_mse_objective": 0.5}, {"model": 0, "Host": "algo-1", "epoch": 0}, start=1.0
    )
    body = json.loads(line.removeprefix("#metrics "))
    assert body["Metrics"]["train_mse_objective"] == {"count": 1, "max": 0.5, "sum": 0.5, "min": 0.5}
    assert body["Dimensions"]["Algorithm"] == "Linear Learner"


def test_loss_vs_score_kind():
    assert logs.is_loss_metric("hinge_loss_objective")
    assert logs.is_loss_metric("rmse")
    assert not logs.is_loss_metric("roc_auc_score")
