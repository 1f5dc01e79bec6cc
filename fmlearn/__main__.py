"""Command line of fmlearn: ``python -m fmlearn <command>`` (or ``fmlearn <command>``).

Commands are registered in ``COMMANDS``: name -> (help, add_arguments, run). To add one,
write ``_add_x(parser)`` (may do nothing) and ``_run_x(args) -> int`` and add a line.
Heavy modules are imported inside ``_run_*`` so that ``--help`` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable

from fmlearn._version import __version__


def _add_nothing(parser: argparse.ArgumentParser) -> None:
    """For commands without options."""


def _run_version(args: argparse.Namespace) -> int:
    print(__version__)
    return 0


def _add_bench(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write the measured figures to this JSON file")
    parser.add_argument("--quick", action="store_true",
                        help="small budgets (sets FMLEARN_QUICK=1): rough figures in minutes")


def _run_bench(args: argparse.Namespace) -> int:
    if args.quick:
        # Set before fmlearn.teaching.bench is imported, so every budget read from the environment sees it.
        os.environ["FMLEARN_QUICK"] = "1"
    try:
        bench = importlib.import_module("fmlearn.teaching.bench")
    except ModuleNotFoundError as err:
        if err.name != "fmlearn.teaching.bench":  # a missing dependency inside bench is a real error
            raise
        print("fmlearn bench: the benchmark module fmlearn/teaching/bench.py is not part of this "
              "version of fmlearn yet; update fmlearn (git pull) and try again.", file=sys.stderr)
        return 2
    code = bench.main(args)
    return int(code or 0)


def _add_student(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", default=["notebooks"],
                        help="notebooks or folders of notebooks (default: notebooks)")
    parser.add_argument("--out", default="student", help="folder for the student versions (default: student)")


def _run_student(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fmlearn.teaching.exercises import student_notebook

    paths = []
    for item in map(Path, args.notebooks):
        paths += sorted(item.glob("*.ipynb")) if item.is_dir() else [item]
    if not paths:
        print(f"fmlearn student: no notebooks found in {args.notebooks}.", file=sys.stderr)
        return 2
    out = Path(args.out)
    if any(out.resolve() == p.resolve().parent for p in paths):
        print("fmlearn student: --out must differ from the notebooks' folder (it would overwrite the solutions).",
              file=sys.stderr)
        return 2
    for path in paths:
        n = student_notebook(path, out / path.name)
        print(f"{out / path.name}: {n} exercise(s) turned into stubs")
    return 0


def _add_race(parser: argparse.ArgumentParser) -> None:
    from fmlearn.experiments.race.run import add_arguments
    add_arguments(parser)


def _run_race(args: argparse.Namespace) -> int:
    from fmlearn.experiments.race import main as race_main

    return int(race_main(args) or 0)


def _add_train_mnist(parser: argparse.ArgumentParser) -> None:
    from fmlearn.mnist.models import add_arguments
    add_arguments(parser)


def _run_train_mnist(args: argparse.Namespace) -> int:
    from fmlearn.mnist.models import main
    return main(args)


def _add_mnist_eval(parser: argparse.ArgumentParser) -> None:
    from fmlearn.experiments.mnist_race import add_arguments
    add_arguments(parser)


def _run_mnist_eval(args: argparse.Namespace) -> int:
    from fmlearn.experiments.mnist_race import main
    return main(args)


def _add_claims(parser: argparse.ArgumentParser) -> None:
    from fmlearn.experiments.claims import add_arguments
    add_arguments(parser)


def _run_claims(args: argparse.Namespace) -> int:
    from fmlearn.experiments.claims import main
    return main(args)


# name -> (help, add_arguments(parser), run(args) -> exit code)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {
    "version": ("print the version of fmlearn", _add_nothing, _run_version),
    "bench": ("measure training, data, sampling and metric speed (the README's measured figures)",
              _add_bench, _run_bench),
    "train-mnist": ("train a flow matching or diffusion UNet on MNIST (progress, EMA, checkpoints, resume)",
                    _add_train_mnist, _run_train_mnist),
    "mnist-eval": ("sample the shipped MNIST models with every sampler at every NFE; FD, confident share, entropy",
                   _add_mnist_eval, _run_mnist_eval),
    "student": ("write student versions of the notebooks (solutions replaced by stubs)", _add_student, _run_student),
    "race": ("train five models on one 2D data set and race every sampler at every NFE (W2 to fresh data)",
             _add_race, _run_race),
    "claims": ("measure the popular claims about flow matching vs diffusion and compute a verdict for each",
               _add_claims, _run_claims),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fmlearn",
        description="fmlearn: an interactive course on flow matching and diffusion.")
    parser.add_argument("--version", action="version", version=f"fmlearn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command", required=True,
                                help=", ".join(COMMANDS))
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        command.set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)  # as typed: recorded by train-mnist --ship
    return args._run(args)


if __name__ == "__main__":
    sys.exit(main())
