"""``keras-rk``: runs the paper's studies (point sets and images) from the shell.

    keras-rk list
    keras-rk run STUDY [--quick] [--out DIR] [--seeds N] [--epochs N] ...
    keras-rk run images [--data-dir DIR] ...
    keras-rk run STUDY --jobs 4               four repetitions at once on this machine
    keras-rk run all [--quick] [--out DIR]    every study, into DIR/<study>/

Every setting defaults to the paper's (see ``keras_rk.studies.catalogue``); a rerun
into the same folder resumes: it skips the repetitions already written and
continues an interrupted one from its last finished epoch. The same command
started at once on several machines that share the folder splits the study
between them (docs/parallel.md). Set KERAS_BACKEND=jax for speed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 1,3,5; received {text!r}"
        ) from error


def _drop_list(text: str) -> list[list]:
    """'4:1e-4,10:1e-5' as [[4, 0.0001], [10, 1e-05]] (checked by Settings)."""
    try:
        return [
            [int(epoch), float(rate)]
            for epoch, rate in (part.split(":") for part in text.split(",") if part.strip())
        ]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated EPOCH:RATE pairs such as 4:1e-4,10:1e-5; received {text!r}"
        ) from error


def _str_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def make_parser() -> argparse.ArgumentParser:
    from keras_rk import __version__
    from keras_rk.callbacks import EARLY_STOPPING_RULES
    from keras_rk.layers.augment import LIFT_MODES
    from keras_rk.layers.rk_block import GRADIENTS
    from keras_rk.listing import study_defaults
    from keras_rk.studies.claims import DEFAULT_TIMEOUT

    parser = argparse.ArgumentParser(
        prog="keras-rk",
        description="Augmented Runge-Kutta networks: the paper's studies.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the studies, the installed tableaus and the data sets")
    run = commands.add_parser(
        "run",
        help="run (or resume) a study",
        description="Run or resume a study. Unset settings take the paper's values.",
        epilog=study_defaults(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "study", help="one of the studies below (keras-rk list describes them), or all"
    )
    run.add_argument(
        "--out", help="results folder (default: results/STUDY; for all: the parent, results)"
    )
    run.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")
    run.add_argument("--seeds", type=int, help="repetitions per setting (seeds 0..N-1)")
    run.add_argument("--epochs", type=int, help="maximum epochs")
    run.add_argument("--batch-size", type=int, help="default 5")
    run.add_argument("--learning-rate", type=float, help="Adam's, default 1e-3")
    run.add_argument(
        "--learning-rate-drops",
        type=_drop_list,
        metavar="EPOCH:RATE,...",
        help="after EPOCH epochs the rate becomes RATE, e.g. 4:1e-4,10:1e-5 (default: "
        "constant, as the paper)",
    )
    run.add_argument(
        "--lift",
        choices=LIFT_MODES,
        help="input lift (default random; zeros for width)",
    )
    run.add_argument("--step-size", type=float, help="h, default 0.05 at every depth")
    run.add_argument("--final-time", type=float, help="T; h = T / L instead of a fixed h")
    run.add_argument("--tol", type=float, help="early-stop tolerance, default 0.05")
    run.add_argument(
        "--no-early-stop", action="store_true", help="train every epoch (--early-stopping none)"
    )
    run.add_argument(
        "--early-stopping",
        choices=EARLY_STOPPING_RULES,
        help="the paper's rule with --tol (point studies), Keras's EarlyStopping on "
        "val_loss with --patience (image studies), or none",
    )
    run.add_argument("--patience", type=int, help="for --early-stopping patience, default 5")
    run.add_argument(
        "--restore-best-weights",
        action="store_true",
        help="with --early-stopping patience: end with the weights of the best epoch",
    )
    run.add_argument(
        "--gradient",
        choices=GRADIENTS,
        help="RKBlock's gradient (default autodiff; adjoint for the image studies; auto "
        "picks the faster per backend and batch size)",
    )
    run.add_argument("--num-train", type=int, help="training points, default 1500")
    run.add_argument("--num-val", type=int, help="validation points, default 1500")
    run.add_argument("--steps-per-execution", type=int, help="default 50")
    run.add_argument("--depths", type=_int_list, help="depth study: e.g. 1,3,5,10,20,40,100")
    run.add_argument("--depth", type=int, help="depth of the RK networks")
    run.add_argument("--width", type=int, help="feature width (default 16)")
    run.add_argument("--widths", type=_int_list, help="width study: e.g. 2,3")
    run.add_argument("--activations", type=_str_list, help="activation study: e.g. tanh,relu")
    run.add_argument("--architectures", type=_str_list, help="e.g. standard,euler,rk4")
    run.add_argument(
        "--datasets", type=_str_list, help="e.g. donut_2d_6c (points) or mnist,fashion_mnist"
    )
    run.add_argument("--standard-depth", type=int, help="depth of StandardNet (default 5)")
    run.add_argument(
        "--data-dir",
        help="image studies: a folder with the MNIST / Fashion-MNIST IDX files (see "
        "keras_rk.datasets.load_images); not part of the results' settings",
    )
    run.add_argument("--no-figures", action="store_true", help="tables and report only")
    run.add_argument(
        "--distribute",
        choices=["data_parallel", "multi_worker"],
        help="train data-parallel over every local device (JAX, TensorFlow), or across "
        "hosts; the batch size must be divisible by the number of devices",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="train N repetitions at once in worker processes, each with its share of the "
        "cores (default 1)",
    )
    run.add_argument(
        "--claim-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds without a heartbeat after which another process takes over a "
        f"repetition (default {DEFAULT_TIMEOUT:.0f}; see docs/parallel.md)",
    )
    run.add_argument(
        "--verbose", action="store_true", help="show Keras's progress bar for each epoch"
    )
    return parser


# The study-specific options; each study takes some of them (Study.options).
STUDY_OPTIONS = (
    "depths", "depth", "width", "widths", "activations", "architectures", "datasets",
    "standard_depth",
)  # fmt: skip


def settings_overrides(args: argparse.Namespace) -> dict:
    """The ``Settings`` fields that the flags of ``keras-rk run`` set; None where
    a flag is not given (the study's default then holds).

    >>> args = make_parser().parse_args(["run", "depth", "--epochs", "3", "--no-early-stop"])
    >>> overrides = settings_overrides(args)
    >>> overrides["epochs"], overrides["early_stopping"], overrides["seeds"]
    (3, 'none', None)
    """
    return dict(
        seeds=args.seeds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        learning_rate_drops=args.learning_rate_drops,
        lift=args.lift,
        step_size=args.step_size,
        final_time=args.final_time,
        tol=args.tol,
        num_train=args.num_train,
        num_val=args.num_val,
        steps_per_execution=args.steps_per_execution,
        early_stopping="none" if args.no_early_stop else args.early_stopping,
        patience=args.patience,
        restore_best_weights=True if args.restore_best_weights else None,
        gradient=args.gradient,
    )


def main(argv: list[str] | None = None) -> int:
    # Before anything imports TensorFlow: its C++ log lines (oneDNN, CUDA, CPU
    # features) say nothing a user of this command needs; a set value wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = make_parser()
    args = parser.parse_args(argv)  # --help and --version end here, without Keras
    from keras_rk._quiet_import import import_quietly

    # Keras on JAX or PyTorch imports TensorFlow later, inside fit (its data
    # utilities); a study trains, so import it now, while its log is filtered.
    import_quietly("tensorflow")
    from keras_rk import studies

    if args.command == "list":
        from keras_rk.listing import listing

        print(listing(), end="")
        return 0

    import keras

    if keras.backend.backend() != "jax":
        print(
            f"note: Keras backend is {keras.backend.backend()!r}; these small networks "
            f"train several times faster with KERAS_BACKEND=jax.",
            file=sys.stderr,
        )
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive integer; received {args.jobs}")
    if args.jobs > 1 and args.distribute:
        parser.error("--jobs and --distribute do not combine: choose one way to use the cores")
    if args.claim_timeout <= 0:
        parser.error(f"--claim-timeout must be a positive number; received {args.claim_timeout}")
    given_options = {key: getattr(args, key) for key in STUDY_OPTIONS}
    given = sorted(k for k, v in given_options.items() if v is not None)
    if args.study == "all":
        if given:
            parser.error(
                f"run all takes no study options ({['--' + k for k in given]}); run "
                f"those studies one by one"
            )
        failed = []
        for name in studies.available_studies():
            print(f"== {name}", flush=True)
            code = run_one(args, name, f"{args.out or 'results'}/{name}", {}, parser)
            if code:
                failed.append(name)
        if failed:
            print(f"keras-rk: studies that did not finish: {failed}", file=sys.stderr)
            return 2
        return 0
    return run_one(args, args.study, args.out or f"results/{args.study}", given_options, parser)


def run_one(args, name: str, out: str, given_options: dict, parser) -> int:
    """Runs study `name` into `out` as the flags say; 2 after an error it reports."""
    from keras_rk import studies
    from keras_rk.datasets.images import DataNotFoundError
    from keras_rk.results import ResultsError

    try:
        study = studies.get_study(name)
        given = {k for k, v in given_options.items() if v is not None}
        options = {k: given_options[k] for k in given if k in study.options}
        ignored = sorted(given - set(options))
        if ignored:
            parser.error(
                f"study {name!r} takes none of {['--' + k for k in ignored]}; it "
                f"takes {['--' + k for k in sorted(study.options)]}"
            )
        context = contextlib.nullcontext()
        if args.distribute:
            from keras_rk.distribute import data_parallel

            context = data_parallel(multi_worker=args.distribute == "multi_worker")
        with context:
            studies.run_study(
                name,
                out,
                quick=args.quick,
                options=options,
                figures=not args.no_figures,
                progress=lambda line: print(line, flush=True),
                data_dir=args.data_dir,
                verbose=1 if args.verbose else 0,
                num_workers=args.jobs,
                claim_timeout=args.claim_timeout,
                **settings_overrides(args),
            )
    except (ValueError, ResultsError, NotImplementedError, DataNotFoundError, OSError) as error:
        # One line, no traceback: each of these names what to fix (an OSError
        # that escaped keras-rk's own messages still names its file).
        print(f"keras-rk: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return 0


def console_main() -> None:
    """The ``keras-rk`` command: ``main`` on the command line's arguments, in a
    process restarted with malloc tuned for large buffers when it trains
    (``keras_rk.allocator``, which says how to turn it off)."""
    if sys.argv[1:2] == ["run"]:
        from keras_rk.allocator import tune_allocator

        tune_allocator()
    sys.exit(main())


if __name__ == "__main__":
    console_main()
