"""Every Python block of the docs runs: a block titled with a file name (`mymodels.py`, a
`my_first.yaml` config) is written to that file for the next blocks, the untitled ones run in
order in one namespace per page."""

import re
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = REPO / "docs"
FENCE = re.compile(r'^```(?:python|yaml title="([\w.]+)")(?: title="([\w.]+)")?\n(.*?)^```$', re.M | re.S)
PAGES = sorted(p.relative_to(DOCS) for p in DOCS.rglob("*.md"))


def python_blocks(text: str) -> list[tuple[str | None, str]]:
    """(file name or None, code) of each fenced python block and titled yaml block, in order."""
    return [(yaml or title or None, code) for yaml, title, code in FENCE.findall(text)]


def test_the_block_reader_finds_titled_and_plain_blocks():
    text = ('x\n```python title="m.py"\nA = 1\n```\n```bash\nls\n```\n```yaml\nb: 1\n```\n'
            '```yaml title="c.yaml"\nrounds: 2\n```\n```python\nimport m\n```\n')
    assert python_blocks(text) == [("m.py", "A = 1\n"), ("c.yaml", "rounds: 2\n"), (None, "import m\n")]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=str)
def test_every_python_block_runs(page: Path, tmp_path, monkeypatch):
    blocks = python_blocks((DOCS / page).read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    namespace: dict = {"__name__": "__main__"}
    try:
        for title, code in blocks:
            if title:
                (tmp_path / title).write_text(code)
            else:
                exec(compile(code, f"{page}", "exec"), namespace)
    finally:
        for name in set(sys.modules) - before:
            if (getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
                del sys.modules[name]


def test_the_config_page_has_one_row_per_field():
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        from config_reference import config_page
    finally:
        sys.path.remove(str(DOCS / "hooks"))
    from fedhive.config import Config
    from fedhive.config.reference import field_rows

    rows = [line for line in config_page().splitlines() if line.startswith("| `")]
    assert len(rows) == len(field_rows(Config))
    assert "| `privacy.target_epsilon` | `float \\| None` | `None` |" in rows[[r.split(" | ")[0] for r in rows].index(
        "| `privacy.target_epsilon`")]
