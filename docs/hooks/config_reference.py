"""mkdocs hook: the config reference page, generated at build time from the pydantic models."""

from __future__ import annotations

from typing import Any

from fedhive.config import Config
from fedhive.config.reference import field_rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_page() -> str:
    """Every config field as one Markdown table row: key, type, default, description."""
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    rows += [f"| `{k}` | `{_cell(t)}` | `{_cell(d)}` | {_cell(doc)} |" for k, t, d, doc in field_rows(Config)]
    return ("# Config reference\n\nEvery field of a config file, generated from the config's pydantic models "
            "(the same list `fedhive config [SECTION]` prints). Dotted keys are `key=value` overrides.\n\n"
            + "\n".join(rows) + "\n")


def on_files(files: Any, config: Any) -> Any:
    # mkdocs is imported here so that the page itself builds (and is tested) without it
    from mkdocs.structure.files import File

    files.append(File.generated(config, "config.md", content=config_page()))
    return files
