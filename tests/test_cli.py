"""`linear-learner` itself: help and usage."""

import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "linear_learner.cli", *args], capture_output=True, text=True)


def test_help_exits_0_and_names_both_commands():
    result = _run("--help")
    assert result.returncode == 0
    assert "train" in result.stdout and "serve" in result.stdout and "SAGEMAKER_BASE_DIR" in result.stdout


def test_unknown_command_is_a_usage_error():
    result = _run("fit")
    assert result.returncode == 2
    assert "usage: linear-learner {train|serve}" in result.stderr
