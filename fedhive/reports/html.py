"""`fedhive report`: one self-contained report.html for a run or a sweep folder (plots
embedded as base64 PNG, no scripts needed to read it)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from fedhive.config import read_yaml
from fedhive.errors import UserError
from fedhive.reports.compare import format_cell
from fedhive.run_folder.recorder import atomic_write, read_metrics

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: .85em; } td, th { border: 1px solid #ddd; padding: 2px 8px; }
th { background: #f3f3f3; } td { text-align: right; } td:first-child { text-align: left; }
.scroll { max-height: 420px; overflow: auto; } pre { background: #f7f7f7; padding: 1em; font-size: .8em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; } .plots figure { margin: 0; flex: 1 1 45%; }
img { max-width: 100%; margin: .5em 0; }
"""
# Marks the page once every image has decoded: lets a headless browser check it rendered.
CHECK = """<script>window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
});</script>"""


def esc(value: Any) -> str:
    return html.escape(format_cell(value) if not isinstance(value, str) else value)


def table(rows: list[dict[str, Any]], table_id: str = "") -> str:
    """An HTML table; the columns are the union of the rows' keys, in first-seen order."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{esc(r.get(c))}</td>" for c in cols) + "</tr>\n" for r in rows)
    ident = f' id="{table_id}"' if table_id else ""
    return f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table></div>'


def pairs(items: dict[str, Any]) -> str:
    """A two-column key/value table."""
    return table([{"field": k, "value": v if not isinstance(v, dict) else json.dumps(v)} for k, v in items.items()])


def image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{esc(path.stem)}" src="data:image/png;base64,{data}"></figure>'


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def run_sections(run_dir: Path) -> list[tuple[str, str]]:
    """(heading, html) sections for one run folder."""
    config, summary = read_yaml(run_dir / "config.yaml"), _json(run_dir / "summary.json")
    rows, data, env = read_metrics(run_dir), _json(run_dir / "data.json"), _json(run_dir / "environment.json")
    privacy = {k: config["privacy"].get(k) for k in ("mechanism", "clip", "noise_multiplier", "target_epsilon",
                                                     "delta", "accountant")}
    privacy["final epsilon"] = summary.get("epsilon")
    comm = {"compression": config["compression"].get("name"), "bytes up (total)": summary.get("bytes_up_total"),
            "bytes down (total)": summary.get("bytes_down_total")}
    stats = {k: v for k, v in data.items() if k != "label_counts"} if data else {"partition": "no fixed client data"}
    return [
        ("Summary", pairs(summary)),
        ("Plots", '<div class="plots">' + "".join(image(p) for p in sorted((run_dir / "plots").glob("*.png"))) + "</div>"),
        (f"Metrics ({len(rows)} rounds)", table(rows, "metrics")),
        ("Partition", pairs(stats)),
        ("Privacy", pairs(privacy)),
        ("Communication", pairs(comm)),
        ("Environment", pairs(env) if env else "<p>not recorded (a run from an older fedhive)</p>"),
        ("Resolved config", f"<pre>{html.escape((run_dir / 'config.yaml').read_text(encoding='utf-8'))}</pre>"),
    ]


def sweep_sections(sweep_dir: Path) -> list[tuple[str, str]]:
    """(heading, html) sections for a sweep folder: the summary, the band figure, the runs."""
    import csv

    from fedhive.reports.compare import compare
    from fedhive.reports.summarize import display, summarize

    rows, _, columns = summarize(sweep_dir)
    figure = sweep_dir / "plots" / "compare.png"
    compare([sweep_dir], figure)
    runs = list(csv.DictReader(open(sweep_dir / "sweep.csv", encoding="utf-8")))
    return [
        ("Summary over seeds", table([display(r, columns) for r in rows], "summary")),
        ("Curves (mean over seeds, ±1 std)", image(figure)),
        (f"Runs ({len(runs)})", table(runs, "runs")),
        ("Grid", f"<pre>{html.escape((sweep_dir / 'sweep.yaml').read_text(encoding='utf-8'))}</pre>"),
    ]


def render(title: str, sections: list[tuple[str, str]]) -> str:
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{content}\n" for h, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body><h1>{html.escape(title)}</h1>\n{body}{CHECK}</body></html>\n")


def write_report(folder: str | Path, output: str | Path | None = None) -> Path:
    """Write the report of a run or sweep folder; returns its path."""
    folder = Path(folder)
    if (folder / "sweep.yaml").is_file():
        title, sections = f"fedhive sweep — {folder.name}", sweep_sections(folder)
    elif (folder / "metrics.jsonl").is_file() and (folder / "config.yaml").is_file():
        title, sections = f"fedhive run — {folder.name}", run_sections(folder)
    else:
        raise UserError(f"{folder}: not a run or sweep folder (no metrics.jsonl or sweep.yaml)")
    out = Path(output) if output else folder / "report.html"
    atomic_write(out, render(title, sections).encode())
    return out
