"""The `fedhive` command: run, validate and plot experiments; list, describe and save datasets.

Imports are lazy so that `--help` and config errors answer without loading torch.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from fedhive.errors import FedhiveWarning, RunError, RunStopped, UserError

EPILOG = """examples:
  fedhive run                                   the reference experiment
  fedhive run configs/reference.yaml rounds=20 seed=3 cohort.min=5 cohort.max=10
  fedhive validate configs/reference.yaml       dry run: build everything, train nothing
  fedhive config privacy                        every field of a section: type, default, description
  fedhive resume runs/<name>                    continue a stopped or killed run
  fedhive run my.yaml --allow-code              a config that names its own code (model.name: pkg.mod:Net)
  fedhive resume runs/<name> rounds=200         extend a finished run
  fedhive plot runs/<name>                      redraw a run's plots
  fedhive run algorithm=fedprox client.mu=0.1   a named algorithm, one hyperparameter changed
  fedhive compare runs/a runs/b -o cmp.png      curves on shared axes + a table (cmp.csv, cmp.md)
  fedhive compare runs/a runs/b --x sim_time    the same curves against simulated time
  fedhive sweep configs/fedavg.yaml seed=0..2 client.lr=0.1,0.5   a grid of runs (sweep --help)
  fedhive summarize runs/fedavg                 mean ± std over seeds, per setting
  fedhive report runs/<name>                    one self-contained report.html
  fedhive reproduce --list                      the paper reproductions (configs/papers/)
  fedhive reproduce leaf_synthetic --quick      rerun one, check it against the paper, write its report
  fedhive datasets                              list the datasets and whether they are installed
  fedhive data describe configs/fashion_mnist_dirichlet.yaml   partition statistics + plot
"""


def _split_config_and_overrides(args: list[str]) -> tuple[str | None, list[str]]:
    """The first argument is the config file unless it looks like `key=value`."""
    if args and "=" not in args[0]:
        return args[0], args[1:]
    return None, args


def _load(args: argparse.Namespace):
    from fedhive.config import load_config

    path, overrides = _split_config_and_overrides(args.args)
    return load_config(path, overrides)


@contextlib.contextmanager
def start_up() -> Iterator[None]:
    """A command's start-up (torch's import, the config, building the experiment) with the
    cyclic garbage collector paused: start-up makes next to no garbage, yet the collector's
    passes over torch's objects cost ~0.5 s of it. What start-up built lives to the end, so
    it is then frozen (`gc.freeze`; `main` unfreezes it): the round loop's collections skip it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()


def cmd_run(args: argparse.Namespace) -> int:
    with plot_helper() as plotter:
        with start_up():
            config = _load(args)
        path, _ = _split_config_and_overrides(args.args)
        if path is not None and config.name is None:  # runs/<config stem>-<time>, not a bare timestamp
            config = config.model_copy(update={"name": f"{Path(path).stem}-{time.strftime('%Y%m%d-%H%M%S')}"})
        from fedhive.launch import should_spawn, spawn_workers

        if should_spawn(config.engine):
            _close(plotter)  # the workers' rank 0 draws the plots
            return spawn_workers(config.engine.workers, ["run", *args.args, *_flags(args)])
        from fedhive.experiment import Experiment

        if not args.quiet:
            print(f"loading data ({config.data.name}) and building the model ...", file=sys.stderr)
        with start_up():
            exp = Experiment(config)
        return _run(exp, args.quiet, plotter)


def _flags(args: argparse.Namespace) -> list[str]:
    """The options a worker process must get again."""
    return [*(["-q"] if args.quiet else []), *(["--allow-code"] if args.allow_code else [])]


def cmd_resume(args: argparse.Namespace) -> int:
    from fedhive.launch import should_spawn, spawn_workers

    with plot_helper() as plotter:
        with start_up():
            from fedhive.run_folder.resume import checked_config, folder_config, resume_experiment

            engine = folder_config(Path(args.run_dir), args.args).engine
        if should_spawn(engine):  # as many workers as the run had, or as many as --force gives
            _close(plotter)  # the workers' rank 0 draws the plots
            checked_config(Path(args.run_dir), args.args, force=args.force)  # one error here, not one per worker
            force = ["--force"] if args.force else []
            return spawn_workers(engine.workers, ["resume", args.run_dir, *args.args, *force, *_flags(args)])
        with start_up():
            exp = resume_experiment(args.run_dir, args.args, force=args.force)
        if not args.quiet:
            print(f"resuming from round {exp.round} of {exp.config.rounds}", file=sys.stderr)
        return _run(exp, args.quiet, plotter)


def plot_helper() -> contextlib.AbstractContextManager:
    """A helper process that draws the run's plots (see reports.plot_process), started
    before torch's import so that matplotlib's overlaps it; none where this process draws none."""
    from fedhive.reports.plot_process import PlotProcess, wanted

    return PlotProcess() if wanted() else contextlib.nullcontext()


def _close(plotter) -> None:
    if plotter is not None:
        plotter.close()


def _run(exp, quiet: bool, plotter=None) -> int:
    if plotter is not None:
        exp.plot_rows = plotter.plot_rows
    exp.run(quiet=quiet)
    if exp.run_dir is None:  # a distributed run's other ranks: rank 0 reports
        return 0
    if not quiet:
        print_summary(exp)
    else:
        print(exp.run_dir)
    return 0


def print_summary(exp) -> None:
    from rich.console import Console
    from rich.table import Table

    last = exp.history[-1]
    table = Table(title=f"fedhive — {exp.run_dir.name}")
    for col in ("rounds", "train loss", "test loss", "test accuracy", "wall s"):
        table.add_column(col, justify="right")
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    table.add_row(
        str(last["round"]), fmt(last["train_loss"]), fmt(last["test_loss"]),
        fmt(last["test_accuracy"]), f"{last['wall_s']:.2f}",
    )
    console = Console()
    console.print(table)
    console.print(f"run folder: {exp.run_dir}")


def cmd_validate(args: argparse.Namespace) -> int:
    config = _load(args)  # config errors answer before torch loads
    import yaml

    from fedhive.preflight import dry_run, sections_in_use

    dry_run(config)
    print(yaml.safe_dump(sections_in_use(config), sort_keys=False), end="")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not (run_dir / "metrics.jsonl").is_file():
        raise UserError(f"{run_dir}: not a run folder (no metrics.jsonl)")
    from fedhive.reports.plots import plot_run

    for path in plot_run(run_dir):
        print(path)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from fedhive.reports.compare import COLUMNS, compare, format_cell

    rows, paths = compare(args.run_dirs, args.output, args.target, args.x, args.band)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"fedhive compare (target accuracy {args.target})")
    # personal_accuracy only when some run has personal models: the table fits 80 columns
    columns = [c for c in COLUMNS if c != "personal_accuracy" or any(r[c] is not None for r in rows)]
    for col in columns:
        table.add_column(col.replace("_", " "), justify="left" if col == "run" else "right", no_wrap=col == "run")
    for row in rows:
        table.add_row(*(format_cell(row[c]) for c in columns))
    console = Console()
    console.print(table)
    for path in paths:
        console.print(str(path))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from fedhive.config.reference import config_reference

    print(config_reference(args.section))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from fedhive.data.datasets import SOURCES, availability

    width = max(map(len, SOURCES))
    for name, source in SOURCES.items():
        print(f"{name:<{width}}  {source.kind:<9}  {source.description}  [{availability(name, args.root)}]")
    return 0


def _build_data(args: argparse.Namespace):
    config = _load(args)
    from fedhive.data.build import build_dataset

    return config, build_dataset(config.data, config.seed)


def cmd_data_describe(args: argparse.Namespace) -> int:
    config, dataset = _build_data(args)
    from fedhive.data.describe import describe_into, format_stats

    out = Path(args.out) if args.out else Path(config.output_dir) / f"data-{config.data.name}"
    stats = describe_into(dataset, out)
    if stats is None:
        print(f"{config.data.name}: generated fresh every round; clients hold no fixed data to describe")
        return 0
    print(format_stats(stats))
    print(f"wrote {out / 'data.json'} and {out / 'plots' / 'label_distribution.png'}")
    return 0


def cmd_data_save(args: argparse.Namespace) -> int:
    if Path(args.path).exists() and not args.force:
        raise UserError(f"{args.path} exists; pass --force to overwrite it")
    config, dataset = _build_data(args)
    if dataset.label_counts() is None:
        raise UserError(f"data.name: {config.data.name} is generated every round; there is no fixed data to save")
    from fedhive.data.store import save

    header = save(dataset, args.path)
    print(f"{args.path}  sha256 {header['hash']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedhive",
        description="fedhive: a fast, reproducible federated-learning simulator.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from fedhive import __version__

    parser.add_argument("--version", action="version", version=f"fedhive {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    config_help = "[CONFIG.yaml] [key=value ...]: a config file (default: the reference experiment) and dotted overrides"

    p = sub.add_parser("run", help="run an experiment and write its run folder",
                       description="Run an experiment. Without a config, runs the reference experiment. "
                                   "`fedhive config` lists every field (key=value) with its type, default and meaning.")
    p.add_argument("args", nargs="*", metavar="ARG", help=config_help)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or table; print the run folder")
    p.add_argument("--allow-code", action="store_true",
                   help="let the config import and run code it names (model.name: module.path:Class); "
                        "also FEDHIVE_ALLOW_CODE=1")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="continue a run folder from its newest checkpoint",
                       description="Continue a run from its newest good checkpoint, to the configured rounds. "
                       "Overrides may extend it (rounds=200); other changes that alter results need --force.")
    p.add_argument("run_dir", help="a run folder, e.g. runs/<name>")
    p.add_argument("args", nargs="*", metavar="key=value", help="dotted overrides, e.g. rounds=200")
    p.add_argument("--force", action="store_true", help="resume even if the overrides change the results")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or table; print the run folder")
    p.add_argument("--allow-code", action="store_true",
                   help="let the config import and run code it names (model.name: module.path:Class); "
                        "also FEDHIVE_ALLOW_CODE=1")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("validate", help="dry run: build everything a run builds, train nothing, print the config",
                       description="Validate a config and its overrides as `run` would at its start (data found, "
                                   "model built and one training pass, algorithm, privacy, system, device) without "
                                   "training or writing a run folder; print the resolved sections in use.")
    p.add_argument("args", nargs="*", metavar="ARG", help=config_help)
    p.add_argument("--allow-code", action="store_true",
                   help="let the config import and run code it names (model.name: module.path:Class); "
                        "also FEDHIVE_ALLOW_CODE=1")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plot", help="redraw the plots of a run folder",
                       description="Redraw plots/loss.png and plots/accuracy.png from a run's metrics.")
    p.add_argument("run_dir", help="a run folder, e.g. runs/<name>")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("compare", help="compare runs: shared-axes curves and a table",
                       description="Draw the runs' accuracy and loss curves on shared axes into one PNG, print a "
                                   "table (final/best accuracy, rounds to a target, wall time) and write it as "
                                   "CSV and Markdown next to the PNG.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run folders, e.g. runs/<name>, or sweep folders (each setting: mean over seeds with a band)")
    p.add_argument("--band", default="std", choices=["std", "minmax"],
                   help="sweep folders: the band around the mean, ±1 std (default) or min–max")
    p.add_argument("-o", "--output", default="compare.png", help="the PNG to write (default: compare.png)")
    p.add_argument("--x", default="round", choices=["round", "sim_time", "wall_s", "bytes_up"],
                   help="the curves' x axis: round (default), simulated time, wall time or cumulative bytes uploaded")
    p.add_argument("--target", type=float, default=0.9, help="accuracy for 'rounds to target' (default: 0.9)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("config", help="every config field with its type, default and description",
                       description="Print every config field (the dotted key an override or a YAML file sets), "
                                   "its type, default and description, from the config's own definitions.")
    p.add_argument("section", nargs="?", help="only this section, e.g. privacy or data.partition")
    p.set_defaults(func=cmd_config)

    from fedhive.cli_research import add_commands

    add_commands(sub)

    p = sub.add_parser("datasets", help="list the datasets fedhive knows and whether they are installed")
    p.add_argument("--root", help="a data.root folder to look in (besides $FEDHIVE_DATA)")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("data", help="inspect or save a config's federated dataset")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    d = data_sub.add_parser("describe", help="print partition statistics and plot the label distribution",
                            description="Print the partition's statistics (clients, sizes, label entropy) and write "
                                        "data.json and plots/label_distribution.png.")
    d.add_argument("args", nargs="*", metavar="ARG", help=config_help)
    d.add_argument("--out", help="folder for the outputs (default: <output_dir>/data-<dataset>)")
    d.set_defaults(func=cmd_data_describe)
    d = data_sub.add_parser("save", help="save the partitioned dataset to one .pt/.npz file",
                            description="Build the config's dataset and save it (with a JSON header and hash), "
                                        "to reuse with data.name=file data.path=PATH.")
    d.add_argument("path", help="output file, .pt or .npz")
    d.add_argument("--force", action="store_true", help="overwrite the file if it exists")
    d.add_argument("args", nargs="*", metavar="ARG", help=config_help)
    d.set_defaults(func=cmd_data_save)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Overrides may come after options (`run --quiet rounds=5`): collect them too.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not hasattr(args, "args") or any(e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.args.extend(extra)
    if args.command is None:
        parser.print_help()
        return 0
    warnings.showwarning = _show_warning
    from fedhive.config.user_code import command_line_policy

    try:
        with command_line_policy(getattr(args, "allow_code", False)):
            return args.func(args)
    except UserError as e:
        print(f"fedhive: error: {e}", file=sys.stderr)
        return 2
    except RunError as e:
        print(f"fedhive: error: {e}; `fedhive resume` continues from there", file=sys.stderr)
        return 1
    except RunStopped as e:
        if e.run_dir is None:  # a distributed run's other ranks: rank 0 reports
            return 128 + e.signum
        where = f" {e.run_dir}" if e.run_dir else ""
        print(f"fedhive: stopped after round {e.round}; resume with: fedhive resume{where}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:  # a second Ctrl-C: the newest checkpoint (at a round boundary) stands
        print("fedhive: interrupted", file=sys.stderr)
        return 130
    finally:
        gc.unfreeze()  # a caller that goes on (tests call main in-process) collects as before


_default_showwarning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """fedhive's own warnings as one line; any other warning as Python prints it."""
    if issubclass(category, FedhiveWarning):
        print(f"fedhive: warning: {message}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


if __name__ == "__main__":
    sys.exit(main())
