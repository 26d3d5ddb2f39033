"""A reproduction's report: report.md and report.html with the protocol, our figure, our
numbers next to the published ones and PASS/FAIL per check."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fedhive.reports.compare import format_cell
from fedhive.reproduce.checks import Outcome
from fedhive.run_folder.recorder import atomic_write


def check_rows(outcomes: list[Outcome]) -> list[dict[str, str]]:
    return [{"check": o.text, "result": "PASS" if o.passed else "FAIL", "numbers": o.detail} for o in outcomes]


def _cell(v: Any) -> str:
    """Six significant digits: a reproduction's numbers span 1e-16 (a distance) to 1e5 (samples)."""
    return f"{v:.6g}" if isinstance(v, float) else format_cell(v)


def _cells(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    return [{c: _cell(r.get(c)) for c in cols} for r in rows]


def sections(spec: dict[str, Any], rows, outcomes, quick: bool, seconds: float) -> list[tuple[str, Any]]:
    """(heading, content) in report order; content is text, a figure path or table rows."""
    from fedhive.reproduce.run import published_rows

    variant = "--quick variant" if quick else "full protocol"
    head = (spec["paper"] + (f"\n\nReference code: {spec['reference']}" if spec.get("reference") else "")
            + f"\n\nThis run: {variant}, {seconds:.0f} s wall time.")
    out: list[tuple[str, Any]] = [("Source", head), ("Protocol", spec["protocol"].strip())]
    if spec.get("deviations"):
        out.append(("What differs from the paper", spec["deviations"].strip()))
    out.append(("Checks", check_rows(outcomes)))
    published = published_rows(spec, rows)
    if published:
        out.append(("Published vs ours", _cells(published)))
    out.append(("Our numbers", _cells(rows)))
    return out


def markdown(title: str, parts: list[tuple[str, Any]], figure: Path | None) -> str:
    from fedhive.reports.summarize import markdown_table

    lines = [f"# {title}", ""]
    for heading, content in parts:
        lines += [f"## {heading}", ""]
        lines.append(markdown_table(content) if isinstance(content, list) else content)
        lines.append("")
        if heading == "Protocol" and figure is not None:
            lines += ["## Our figure", "", f"![{figure.stem}]({figure.name})", ""]
    return "\n".join(lines)


def html_page(title: str, parts: list[tuple[str, Any]], figure: Path | None) -> str:
    from fedhive.reports.html import image, render, table

    body = []
    for heading, content in parts:
        body.append((heading, table(content) if isinstance(content, list)
                     else f"<pre>{html.escape(content)}</pre>"))
        if heading == "Protocol" and figure is not None:
            body.append(("Our figure", image(figure)))
    return render(title, body)


def write(spec: dict[str, Any], folder: Path, rows, outcomes: list[Outcome], figure: Path | None, quick: bool,
          seconds: float) -> Path:
    """Write report.md and report.html into `folder`; returns report.md's path."""
    title = f"Reproduction: {spec['title']}" + (" (--quick)" if quick else "")
    parts = sections(spec, rows, outcomes, quick, seconds)
    atomic_write(folder / "report.html", html_page(title, parts, figure).encode())
    atomic_write(folder / "report.md", markdown(title, parts, figure).encode())
    return folder / "report.md"
