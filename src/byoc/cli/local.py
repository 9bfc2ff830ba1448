"""`byoc local train` and `byoc local serve`: process mode by default, Docker with `--image`."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from byoc import contract, hyperparams, tracking
from byoc.cli.code_flags import add_source_flags
from byoc.cli.types import positive_float, positive_int
from byoc.driver import sourcedir
from byoc.driver.local import layout
from byoc.errors import UserError


def train(args: argparse.Namespace) -> int:
    source = sourcedir.from_flags(args.source_dir, args.entry_point)
    hps = sourcedir.parse_hp_flags(args.hp, source)
    channels = layout.split_channel_dirs(args.data)
    output = Path(args.output).resolve()
    distribution = layout.DISTRIBUTIONS[args.distribution]
    track = tracking.job_environment(args.track, args.experiment, image=args.image)
    if args.image:
        from byoc.driver.local import docker

        # As SDK local mode does: the directory is mounted at /opt/ml/code and named there.
        if source:
            hps.update(sourcedir.training_hyperparameters(
                source, sourcedir.CONTAINER_CODE_DIR, job_name=layout.LOCAL_JOB_NAME))
        code = docker.train(args.image, channels, output, hps, instance_count=args.instance_count,
                            cpus=args.cpus_per_instance, distribution=distribution,
                            code_dir=source.directory if source else None,
                            **docker.tracking_options(track, args.instance_count))
    else:
        if args.instance_count > 1 or args.cpus_per_instance or args.distribution != "replicated":
            raise UserError(
                "--instance-count, --cpus-per-instance and --distribution need --image: each "
                "instance is a container on a network of its own, as on SageMaker. Build the "
                "image (`make image`) and add --image byoc:cpu.")
        from byoc.driver.local import process

        # The process runs on this machine, so the directory is named where it is.
        if source:
            hps.update(sourcedir.training_hyperparameters(
                source, str(source.directory), job_name=layout.LOCAL_JOB_NAME))
        code = process.train(channels, output, hps, env=track)
    # Both modes use the output dir itself as /opt/ml (with several instances, the chief's
    # OUTPUT/algo-1), so a second run resumes its checkpoints.
    paths = contract.Paths(output / "algo-1" if args.instance_count > 1 else output)
    if code == 0:
        from byoc.evaluation.summary import summary_lines

        lines = summary_lines(paths.output_data_dir)
        if lines:
            print("\n" + "\n".join(lines))
        print(f"\nModel: {paths.model_dir} (and {output / layout.MODEL_ARCHIVE})")
        return 0
    failures = sorted(output.glob("algo-*/output/failure")) if args.instance_count > 1 else []
    if paths.failure_file.exists() or failures:
        for failure in failures or [paths.failure_file]:
            host = f" on {failure.parents[1].name}" if failures else ""
            print(f"\nTraining failed{host}: {failure.read_text().strip()}", file=sys.stderr)
    else:
        print(f"\nTraining stopped (exit {code}). Run the same command again to resume from "
              f"the checkpoint in {paths.checkpoint_dir}.", file=sys.stderr)
    return code or 1


def serve(args: argparse.Namespace) -> int:
    if args.multi_model != bool(args.model_dir) or args.multi_model == bool(args.model):
        raise UserError(
            "Serve one model with --model DIR_OR_TAR, or several with --multi-model --model-dir "
            "DIR (a directory with one extracted bundle per subdirectory).")
    model = Path(args.model_dir or args.model)
    source = sourcedir.from_flags(args.source_dir, args.entry_point)
    sourcedir.require_entry_point(source, "byoc local serve")
    if source and args.multi_model:
        raise UserError("With --multi-model each model is served with the code in its own "
                        "directory (code/ beside the bundle); drop --source-dir and "
                        "--entry-point, and put the handlers into each model's code/.")
    if args.image:
        from byoc.driver.local import docker

        env = sourcedir.serving_environment(source, sourcedir.CONTAINER_CODE_DIR) if source else {}
        return docker.serve(args.image, model, args.port, multi_model=args.multi_model, env=env,
                            code_dir=source.directory if source else None)
    from byoc.driver.local import process

    with tempfile.TemporaryDirectory(prefix="byoc-serve-") as root:
        if args.multi_model:
            return process.serve_multi_model(model, Path(root), args.port, args.workers,
                                             args.host)
        env = sourcedir.serving_environment(source, str(source.directory)) if source else {}
        return process.serve(model, Path(root), args.port, args.workers, args.host, env=env)


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
    t.add_argument("--distribution", choices=tuple(layout.DISTRIBUTIONS), default="replicated",
                   help="with --instance-count: the train channel's S3DataDistributionType; "
                        "'sharded' deals its files out between the hosts as ShardedByS3Key does")
    t.add_argument("--track", metavar="URI",
                   help="log the run to MLflow: a local store (./mlruns), http(s)://HOST:PORT "
                        "or a SageMaker managed MLflow ARN")
    t.add_argument("--experiment", metavar="NAME",
                   help=f"with --track: the MLflow experiment (default "
                        f"{tracking.DEFAULT_EXPERIMENT})")
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
    add_source_flags(s.add_argument_group("your code"),
                        script="module that defines your handlers (model_fn, input_fn, "
                               "predict_fn, output_fn)")
    s.set_defaults(func=serve)
