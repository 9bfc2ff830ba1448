"""`byoc local train` and `byoc local serve`: process mode by default, Docker with `--image`."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from byoc import contract, hyperparams


def train(args: argparse.Namespace) -> int:
    hps = hyperparams.parse_hp_flags(args.hp)
    channels = contract.split_channel_dirs(args.data)
    output = Path(args.output).resolve()
    if args.image:
        from byoc.driver.local import docker

        code = docker.train(args.image, channels, output, hps)
    else:
        from byoc.driver.local import process

        code = process.train(channels, output, hps)
    # Both modes use the output dir itself as /opt/ml, so a second run resumes its checkpoints.
    paths = contract.Paths(output)
    if code == 0:
        from byoc.report_summary import summary_lines

        lines = summary_lines(paths.output_data_dir)
        if lines:
            print("\n" + "\n".join(lines))
        print(f"\nModel: {paths.model_dir} (and {output / contract.MODEL_ARCHIVE})")
        return 0
    if paths.failure_file.exists():
        print(f"\nTraining failed: {paths.failure_file.read_text().strip()}", file=sys.stderr)
    else:
        print(f"\nTraining stopped (exit {code}). Run the same command again to resume from "
              f"the checkpoint in {paths.checkpoint_dir}.", file=sys.stderr)
    return code or 1


def serve(args: argparse.Namespace) -> int:
    model = Path(args.model)
    if args.image:
        from byoc.driver.local import docker

        return docker.serve(args.image, model, args.port)
    from byoc.driver.local import process

    with tempfile.TemporaryDirectory(prefix="byoc-serve-") as root:
        return process.serve(model, Path(root), args.port, args.workers)


def register(subparsers) -> None:
    local = subparsers.add_parser(
        "local", help="train and serve on this machine (process mode, or Docker with --image)")
    verbs = local.add_subparsers(dest="local_command", metavar="VERB", required=True)

    t = verbs.add_parser("train", help="run `train` over a SageMaker-shaped /opt/ml layout")
    t.add_argument("--data", required=True,
                   help="dataset dir: train/ [validation/] [test/] subfolders, or one train dir")
    t.add_argument("--output", required=True,
                   help="working dir laid out like /opt/ml; model.tar.gz and output.tar.gz too")
    t.add_argument("--hp", action="append", metavar="KEY=VALUE",
                   help=f"hyperparameter, repeatable; names: {', '.join(hyperparams.SPEC)}")
    t.add_argument("--image", help="run in this Docker image instead of a local process")
    t.set_defaults(func=train)

    s = verbs.add_parser("serve", help="serve a trained model with `serve` on /ping, /invocations")
    s.add_argument("--model", required=True, help="a model/ dir or model.tar.gz from training")
    s.add_argument("--port", type=int, default=contract.DEFAULT_PORT)
    s.add_argument("--workers", type=int, help="gunicorn workers (default: CPU count)")
    s.add_argument("--image", help="run in this Docker image instead of a local process")
    s.set_defaults(func=serve)
