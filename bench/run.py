"""fedhive's benchmark suite: `python bench/run.py [--quick] [--markdown bench/README.md]`.

Each measurement runs in a fresh process (so its peak RSS is its own); variants are
interleaved repeat by repeat and the median is reported. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

NAIVE, HAND, SEED, PLAIN = "naive loop", "hand-written fused", "seed loop", "plain event loop"
REFERENCE = [SEED, NAIVE, HAND, "fedhive sequential", "fedhive vectorized", "fedhive vectorized+compile"]
THREADS = [1, 2]  # the reference workload is measured at each
# The reference workload as a user runs it (torch threads as fedhive picks them), quiet and
# beside a busy process, and with two threads forced (`engine.threads=2`) beside it.
BUSY = ["fedhive default", "fedhive default, CPU hog", "fedhive threads=2, CPU hog"]
ASYNC = ["fedhive async FedBuff", PLAIN]  # 5,000 client updates, ~100 in flight, buffer 10
OWN_DATA = {SEED, PLAIN}  # baselines drawing their own data: their accuracy is not compared
SCALING = [HAND, "fedhive vectorized", "fedhive vectorized+compile"]
SCALING_K = [100, 1000, 10_000]
CNN = ["cnn hand-written loop", "cnn fedhive sequential", "cnn fedhive vectorized"]
BEGIN, END = "<!-- bench:table -->", "<!-- /bench:table -->"


import goals  # noqa: E402  (bench/ is on the path only from here)


def variant(name: str):
    import async_bench
    import cnn
    import reference

    return {**reference.VARIANTS, **cnn.VARIANTS, **async_bench.VARIANTS}[name]


def worker(args: argparse.Namespace) -> None:
    """Run one measurement in this process and print it as one JSON line."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = variant(args.worker)(args.rounds, args.warmup, args.clients)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def measure(name: str, rounds: int, warmup: int, clients: int | None, threads: int | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--rounds", str(rounds), "--warmup", str(warmup)]
    cmd += ["--clients", str(clients)] if clients else []
    cmd += ["--threads", str(threads)] if threads else []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: worker failed:\n{proc.stderr[-2000:]}")
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("fedhive:")]
    for ln in notes:
        print(f"  [{name}] {ln}", file=sys.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def plan(quick: bool, threads: int | None) -> list[tuple[str, str, int | None, int, int, int | None]]:
    """(section, variant, clients, rounds, warmup, threads) for every measurement of one repeat."""
    ref_rounds, warm = (6, 1) if quick else (22, 2)
    jobs = [(f"reference {t}t", v, None, ref_rounds, warm, t) for t in ([threads] if threads else THREADS)
            for v in REFERENCE]
    ks = SCALING_K[:2] if quick else SCALING_K
    jobs += [(f"scaling K={k}", v, k, 2, 1, threads) for k in ks for v in SCALING]
    jobs += [("cnn", v, None, 4 if quick else 12, 1, threads) for v in CNN]
    jobs += [("busy machine", v, None, ref_rounds, warm, None) for v in BUSY]
    jobs += [("async FedBuff", v, None, 100 if quick else 500, 2, 1) for v in ASYNC]  # server steps of 10
    return jobs


def run_all(args: argparse.Namespace) -> list[dict]:
    jobs, samples = plan(args.quick, args.threads), {}
    if args.only:
        jobs = [j for j in jobs if any(j[0].startswith(prefix) for prefix in args.only)]
    for rep in range(args.repeats):
        for section, name, clients, rounds, warmup, threads in jobs:  # interleaved: one of each per repeat
            print(f"repeat {rep + 1}/{args.repeats}: {section}: {name}", file=sys.stderr, flush=True)
            samples.setdefault((section, name), []).append(measure(name, rounds, warmup, clients, threads))
    return [summarize(section, name, samples[(section, name)]) for section, name, *_ in jobs]


def summarize(section: str, name: str, runs: list[dict]) -> dict:
    per_round = [r["seconds"] / r["rounds"] for r in runs]
    i = per_round.index(statistics.median_low(per_round))
    return {
        "section": section, "variant": name, "ms": 1000 * statistics.median(per_round),
        "updates_per_s": runs[i]["updates"] / runs[i]["seconds"],
        "rss_mb": max(r["peak_rss_mb"] for r in runs), "accuracy": [r["accuracy"] for r in runs][i],
    }


def table(rows: list[dict]) -> str:
    """The results as a Markdown table, with speed-ups against each section's baselines."""
    head = ("| workload | variant | ms/round | client updates/s | peak RSS MB | × vs seed or plain loop "
            "| × vs hand-written | final acc |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        same = {x["variant"]: x for x in rows if x["section"] == r["section"]}
        base = same.get(SEED) or same.get(NAIVE) or same.get(PLAIN)
        hand = same.get(HAND) or same.get("cnn hand-written loop")
        ratio = lambda b: f"{b['ms'] / r['ms']:.2f}" if b else "–"  # noqa: E731
        lines.append(f"| {r['section']} | {r['variant']} | {r['ms']:.1f} | {r['updates_per_s']:,.0f} | "
                     f"{r['rss_mb']:,.0f} | {ratio(base)} | {ratio(hand)} | {r['accuracy']:.4f} |")
    return "\n".join(lines)


def check_accuracy(rows: list[dict]) -> list[str]:
    """Variants of one workload must agree on the final accuracy (same data, same math);
    the seed loop and the plain event loop draw their own data, so they are not compared."""
    problems = []
    for section in dict.fromkeys(r["section"] for r in rows):
        accs = {r["variant"]: r["accuracy"] for r in rows if r["section"] == section and r["variant"] not in OWN_DATA}
        if len(accs) > 1 and max(accs.values()) - min(accs.values()) > 0.01:
            problems.append(f"{section}: final accuracies differ: {accs}")
    return problems


def machine(args: argparse.Namespace) -> str:
    import torch

    threads = args.threads or f"reference at {' and '.join(map(str, THREADS))}, others {torch.get_num_threads()}"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
            f"{threads} thread(s), {args.repeats} repeat(s){', --quick' if args.quick else ''}")


def write_markdown(path: Path, text: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace what lies between the `begin` and `end` markers of `path` with `text`."""
    doc = path.read_text(encoding="utf-8")
    if begin not in doc or end not in doc:
        raise SystemExit(f"{path}: no {begin} ... {end} block to rewrite")
    before, rest = doc.split(begin, 1)
    path.write_text(f"{before}{begin}\n{text}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer rounds, one repeat, no K=10,000")
    p.add_argument("--repeats", type=int, default=None, help="repeats per variant (default 3, --quick 1)")
    p.add_argument("--threads", type=int, default=None, help="torch threads in every worker (default: torch's)")
    p.add_argument("--markdown", type=Path, help="rewrite the table block of this Markdown file")
    p.add_argument("--only", action="append", metavar="SECTION",
                   help="measure only the sections starting with this (repeatable), e.g. --only async")
    p.add_argument("--note", default="", help="a line printed (and written) under the machine line")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--clients", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    args.repeats = args.repeats or (1 if args.quick else 3)
    rows = run_all(args)
    startup = None if args.quick or args.only else goals.startup_seconds(args.repeats)
    header = machine(args) + (f"\n\n{args.note}" if args.note else "")
    started = (f"\n\nStart-up: `fedhive run rounds=1` {startup['run_s']:.2f} s wall, `import torch` "
               f"{startup['torch_s']:.2f} s." if startup else "")
    text = f"{header}\n\n{table(rows)}{started}{goals.flsim_line(rows)}\n\n{goals.goals_table(rows, startup)}"
    print(text)
    problems = check_accuracy(rows)
    for line in problems:
        print(f"ACCURACY MISMATCH: {line}", file=sys.stderr)
    if args.markdown:
        write_markdown(args.markdown, text)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
