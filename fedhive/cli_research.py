"""The research-workflow commands of `fedhive`: sweep, summarize, report and reproduce."""

from __future__ import annotations

import argparse

SWEEP_HELP = """grid arguments (after an optional CONFIG.yaml):
  key=value                 fixed for every run
  key=a,b,c                 one run per value (brackets keep a list whole: model.hidden=[64,64],[128])
  key=0..4                  an inclusive integer range (0,1,2,3,4)
  zip:k1,k2=a1,a2;b1,b2     paired values: (k1=a1, k2=a2), then (k1=b1, k2=b2)
The runs are the cross product of the axes. Each run is a normal run folder
<output_dir>/<sweep>/<8-hex hash of its overrides>/; the folder also holds sweep.yaml
(the grid) and sweep.csv (one row per run). Running the same command again skips
finished runs and resumes interrupted ones from their checkpoints.

examples:
  fedhive sweep configs/digits_dirichlet.yaml algorithm=fedavg,fedprox,scaffold seed=0..2
  fedhive sweep configs/fedavg.yaml 'zip:server.lr,client.lr=1.0,0.1;0.5,0.5' seed=0..4 --jobs 4
"""


def cmd_sweep(args: argparse.Namespace) -> int:
    from fedhive.cli import _split_config_and_overrides
    from fedhive.sweep.runner import run_sweep

    config_path, grid = _split_config_and_overrides(args.args)
    sweep_dir, rows = run_sweep(config_path, grid, args.jobs, args.name, args.quiet)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "pending", "stopped")}
    for row in rows:
        if row["status"] == "failed":
            print(f"fedhive: run {row['run']} failed: {row['error']}")
    print(f"{sweep_dir}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + f"; see {sweep_dir / 'sweep.csv'}")
    return 1 if counts["failed"] else 0


def cmd_summarize(args: argparse.Namespace) -> int:
    from fedhive.reports.summarize import print_table, summarize

    rows, paths, columns = summarize(args.sweep_dir, args.target)
    print_table(rows, columns, f"fedhive summarize {args.sweep_dir} (target accuracy {args.target})")
    for path in paths:
        print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from fedhive.reports.html import write_report

    print(write_report(args.folder, args.output))
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from fedhive.errors import UserError
    from fedhive.reproduce import spec

    if args.list:
        for name in spec.names():
            s = spec.load(name)
            print(f"{name:24s} {s['title']}" + ("" if "quick" in s else "  (no --quick)"))
        return 0
    if not args.name:
        raise UserError("reproduce: name a reproduction (fedhive reproduce --list shows them)")
    from fedhive.reproduce.run import run_reproduction

    report, outcomes = run_reproduction(args.name, args.quick, args.out, args.jobs, args.quiet)
    for o in outcomes:
        print(f"{'PASS' if o.passed else 'FAIL'}  {o.text}: {o.detail}")
    print(report)
    return 0 if all(o.passed for o in outcomes) else 1


REPRODUCE_HELP = """Runs the reproduction's grid through `fedhive sweep` (finished runs are kept, so a
second call only redoes the checks and the report), then writes report.md and report.html:
the paper's protocol, our figure, our numbers next to the published ones with their
source, and PASS/FAIL for each stated check. Exit status 0 when every check passes, 1
when one fails, 2 for a user error (unknown NAME).
"""


def add_commands(sub) -> None:
    """Register sweep, summarize, report and reproduce on the CLI's subparsers."""
    p = sub.add_parser("sweep", help="run a grid of settings and seeds in parallel, resumably",
                       description="Run the cross product of the given values, each as a run folder.",
                       epilog=SWEEP_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("args", nargs="*", metavar="ARG", help="[CONFIG.yaml] and grid arguments (below)")
    p.add_argument("-j", "--jobs", type=_positive, default=None, help="worker processes (default: the cores)")
    p.add_argument("--name", help="the sweep folder's name (default: the config's name or file stem)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("summarize", help="mean ± std over seeds of a sweep's runs, as a table",
                       description="Group a sweep's runs that differ only in seed; print mean ± std, min and max "
                                   "of final and best accuracy, rounds to a target, ε and bytes where they apply, "
                                   "and write summary.csv and summary.md into the sweep folder.")
    p.add_argument("sweep_dir", help="a sweep folder, e.g. runs/<sweep>")
    p.add_argument("--target", type=float, default=0.9, help="accuracy for 'rounds to target' (default: 0.9)")
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("report", help="write a self-contained report.html for a run or a sweep",
                       description="One HTML file with the plots embedded, the resolved config, the metrics, "
                                   "partition statistics, privacy and communication, and the environment.")
    p.add_argument("folder", help="a run folder or a sweep folder")
    p.add_argument("-o", "--output", help="the HTML file (default: <folder>/report.html)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("reproduce", help="rerun a paper's result (configs/papers/) and check it",
                       description="Rerun a published result and check it against the paper.", epilog=REPRODUCE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="the reproduction (see --list)")
    p.add_argument("--list", action="store_true", help="list the reproductions")
    p.add_argument("--quick", action="store_true", help="the shortened variant (fewer rounds or seeds)")
    p.add_argument("--out", help="the output folder (default: runs/reproduce-NAME)")
    p.add_argument("-j", "--jobs", type=_positive, default=None, help="worker processes (default: the cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_reproduce)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value
