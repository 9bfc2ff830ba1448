"""`byoc local train` and `byoc local serve`: process mode by default, Docker with `--image`."""

from __future__ import annotations

import argparse
import sys

from byoc import contract, hyperparams, tracking_config
from byoc.cli.code_flags import add_source_flags
from byoc.cli.types import positive_float, positive_int
from byoc.driver.local import layout
from byoc.driver.local.modes import local_serve, local_train


def train(args: argparse.Namespace) -> int:
    run = local_train(args.data, args.output, hyperparameters=args.hp, image=args.image,
                      instance_count=args.instance_count,
                      cpus_per_instance=args.cpus_per_instance,
                      memory_per_instance=args.memory_per_instance, distribution=args.distribution,
                      track=args.track, experiment=args.experiment, source_dir=args.source_dir,
                      entry_point=args.entry_point, gpus=args.gpus)
    if run.succeeded:
        if run.summary:
            print("\n" + "\n".join(run.summary))
        print(f"\nModel: {run.model_dir} (and {run.model_archive})")
        return 0
    for host, reason in run.failures:
        print(f"\nTraining failed{f' on {host}' if host else ''}: {reason}", file=sys.stderr)
    if not run.failures:
        print(f"\nTraining stopped (exit {run.exit_code}). Run the same command again to resume "
              f"from the checkpoint in {run.checkpoint_dir}.", file=sys.stderr)
    return run.exit_code


def serve(args: argparse.Namespace) -> int:
    return local_serve(args.model, model_dir=args.model_dir, multi_model=args.multi_model,
                       port=args.port, workers=args.workers, host=args.host, image=args.image,
                       source_dir=args.source_dir, entry_point=args.entry_point,
                       gpus=args.gpus, env=args.env).exit_code


def register(subparsers) -> None:
    local = subparsers.add_parser(
        "local", help="train and serve on this machine (process mode, or Docker with --image)")
    verbs = local.add_subparsers(dest="local_command", metavar="VERB", required=True)

    t = verbs.add_parser("train", help="run `train` over a SageMaker-shaped /opt/ml layout")
    t.add_argument("--data", required=True,
                   help="dataset dir: train/ [validation/] [test/] subfolders, or one train dir")
    t.add_argument("--output", required=True,
                   help="working dir laid out like /opt/ml; model.tar.gz and output.tar.gz too. "
                        "A rerun there resumes from its checkpoints/ and lays out model/ and "
                        "output/ anew; a finished run's model.tar.gz and output.tar.gz are "
                        f"first moved to OUTPUT/{layout.PREVIOUS_RUNS}/TIME/")
    t.add_argument("--hp", action="append", metavar="KEY=VALUE",
                   help=f"hyperparameter, repeatable; names: {', '.join(hyperparams.SPEC)}")
    t.add_argument("--image", help="run in this Docker image instead of a local process")
    t.add_argument("--instance-count", type=positive_int, default=1, metavar="N",
                   help="with --image: train on N containers (hosts algo-1..algo-N) together, as "
                        "a SageMaker job with N instances does")
    t.add_argument("--cpus-per-instance", type=positive_float, metavar="CPUS",
                   help="with --image: each container's CPU share (Docker's --cpus)")
    t.add_argument("--memory-per-instance", metavar="SIZE",
                   help="with --image: each container's memory limit (Docker's --memory), e.g. "
                        "2g; `train` streams images that would not fit in it")
    _add_gpus_flag(t, "; with --instance-count, N GPUs per instance and device= ids dealt out "
                      "in equal shares, so no two hosts share a GPU")
    t.add_argument("--distribution", choices=tuple(layout.DISTRIBUTIONS), default="replicated",
                   help="with --instance-count: the train channel's S3DataDistributionType; "
                        "'sharded' deals its files out between the hosts as ShardedByS3Key does")
    t.add_argument("--track", metavar="URI",
                   help="log the run to MLflow: a local store (./mlruns), http(s)://HOST:PORT "
                        "or a SageMaker managed MLflow ARN")
    t.add_argument("--experiment", metavar="NAME",
                   help=f"with --track: the MLflow experiment (default "
                        f"{tracking_config.DEFAULT_EXPERIMENT})")
    add_source_flags(t.add_argument_group("your code"),
                        script="training script (default: byoc's trainer)")
    t.set_defaults(func=train)

    s = verbs.add_parser("serve", help="serve a trained model with `serve` on /ping, "
                                       "/invocations (or several, with --multi-model)")
    s.add_argument("--model", help="a model/ dir or model.tar.gz from training")
    s.add_argument("--multi-model", action="store_true",
                   help="serve SageMaker's multi-model API (/models) over --model-dir, as a "
                        "multi-model endpoint does; no model is loaded at start")
    s.add_argument("--model-dir", metavar="DIR",
                   help="with --multi-model: one extracted bundle per subdirectory (what "
                        "SageMaker puts in /opt/ml/models); load them with POST /models")
    s.add_argument("--port", type=int, default=contract.DEFAULT_PORT)
    s.add_argument("--workers", type=int, help="gunicorn workers (default: CPU count)")
    s.add_argument("--host", default=contract.LOCAL_HOST,
                   help="address to bind in process mode (default: 127.0.0.1, this machine "
                        "only; 0.0.0.0 opens the server to the network)")
    s.add_argument("--image", help="run in this Docker image instead of a local process")
    s.add_argument("--env", action="append", metavar="KEY=VALUE",
                   help="environment variable for the server, as byoc deploy --env sets it on "
                        "an endpoint; repeatable (e.g. SAGEMAKER_MODEL_SERVER_TIMEOUT=120)")
    _add_gpus_flag(s)
    add_source_flags(s.add_argument_group("your code"),
                        script="module that defines your handlers (model_fn, input_fn, "
                               "predict_fn, output_fn)")
    s.set_defaults(func=serve)


def _add_gpus_flag(parser, more: str = "") -> None:
    parser.add_argument("--gpus", metavar="all|N|device=ID,ID",
                        help="with --image: the GPUs the container gets, as `docker run --gpus` "
                             f"takes them (needs the NVIDIA Container Toolkit){more}")
