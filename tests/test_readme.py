"""The README's two commands stay true: CI runs exactly its test command."""

from tests.conftest import REPO


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_run_and_test_commands():
    run_cmd, test_cmd = _readme_commands()[:2]
    assert "pip install torch==2.13.0" in run_cmd and run_cmd.endswith("fedhive run")
    assert test_cmd.endswith("python -m pytest -n auto") and '".[test]"' in test_cmd


def test_ci_runs_the_readme_test_command():
    test_cmd = _readme_commands()[1]
    ci = (REPO / ".ci/run").read_text()
    assert test_cmd in ci.splitlines()


def test_the_readme_shows_the_whole_feddyn_module():
    text = (REPO / "README.md").read_text().split("## Write your own algorithm", 1)[1]
    block = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert block == (REPO / "fedhive/algorithms/feddyn.py").read_text()
