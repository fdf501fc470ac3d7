"""The README's quick start and hyperparameter table stay true."""

from pathlib import Path

from linear_learner.config.schema import render_markdown_table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_hyperparameter_table_matches_the_schema():
    block = README.split("<!-- hyperparameters:begin -->\n", 1)[1].split("\n<!-- hyperparameters:end -->", 1)[
        0
    ]
    assert block == render_markdown_table().rstrip("\n")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash run_tests.sh" in README and "bash run_tests.sh" in ci
    assert "bash local_test/demo.sh" in README and (ROOT / "local_test" / "demo.sh").exists()
