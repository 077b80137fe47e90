"""``python -m cifar``: the command line. ``python -m cifar --help`` lists the commands."""

from __future__ import annotations

import argparse
import os
import sys


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be >= 1, got 0")
    return value


def _parallel_calls(text: str) -> int:
    if text.lower() in ("autotune", "auto", "-1"):
        return -1
    return _positive_int(text)


def build_parser() -> argparse.ArgumentParser:
    from cifar.models import MODELS
    from cifar.pipeline import VARIANTS

    parser = argparse.ArgumentParser(prog="python -m cifar", description="CIFAR-10 thread benchmarks for TensorFlow")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="the article's training script: set threads, train, report images/s")
    train.add_argument("--intra", type=_non_negative_int, default=0, help="intra_op_parallelism_threads (0 = TensorFlow decides)")
    train.add_argument("--inter", type=_non_negative_int, default=0, help="inter_op_parallelism_threads (0 = TensorFlow decides)")
    train.add_argument("--epochs", type=_positive_int, default=3)
    train.add_argument("--batch-size", type=_positive_int, default=128)
    train.add_argument("--data", default="auto", help="auto | real | synthetic | PATH to an archive or folder")
    train.add_argument("--download", action="store_true", help="let Keras download CIFAR-10 if it is not found")
    train.add_argument("--model", choices=MODELS, default="seed_cnn")
    train.add_argument("--pipeline", choices=VARIANTS, default="seed")
    train.add_argument("--num-parallel-calls", type=_parallel_calls, default=-1, help="int or AUTOTUNE")
    train.add_argument("--validation-split", type=float, default=0.1)
    train.add_argument("--n-train", type=_positive_int, default=None, help="use only the first N training images")
    train.add_argument("--seed", type=_non_negative_int, default=0)
    train.add_argument("--json", help="also write the per-epoch report to this JSON file")
    overhead = commands.add_parser("overhead", help="measure the runner's per-configuration isolation cost")
    overhead.add_argument("--children", type=_positive_int, default=20, help="children per mode")
    return parser


def _overhead(args) -> int:
    import statistics

    from rich.console import Console
    from rich.table import Table

    from cifar.runner import measure_isolation_overhead

    report = measure_isolation_overhead(args.children)
    table = Table(title="Isolation overhead per configuration",
                  caption=f"{args.children} children per mode, interleaved")
    for column in ("mode", "median ms", "min ms", "max ms"):
        table.add_column(column, justify="right" if column != "mode" else "left")
    for mode, values in report["seconds"].items():
        ms = [v * 1000 for v in values]
        table.add_row(mode, f"{statistics.median(ms):.1f}", f"{min(ms):.1f}", f"{max(ms):.1f}")
    console = Console()
    console.print(table)
    if report["zygote_start_seconds"] is not None:
        console.print(f"zygote start (import TensorFlow once per session): {report['zygote_start_seconds']:.2f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # TensorFlow's C++ INFO/WARNING lines (CPU features, missing CUDA) drown the report; errors still show.
    # Set TF_CPP_MIN_LOG_LEVEL yourself to see them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.command == "train":
        from cifar import train

        return train.main(args)
    if args.command == "overhead":
        return _overhead(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
