"""`local_train` and `local_serve`: the SageMaker verbs on this machine, as a process or, with an
image, as Docker containers over a SageMaker-shaped /opt/ml.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from byoc import contract, tracking_config
from byoc.driver import sourcedir
from byoc.driver.aws_options import parse_env
from byoc.driver.channels import split_channel_dirs
from byoc.driver.local import gpus as local_gpus
from byoc.driver.local import layout
from byoc.errors import UserError
from byoc.pairs import Pairs, as_pairs


@dataclass(frozen=True)
class LocalTraining:
    """A local training run.

    Attributes:
        exit_code: the `train` process's (the chief's, with several containers); 0 on success.
        output: the working directory laid out like /opt/ml (with several instances, the
            chief's is OUTPUT/algo-1).
        model_dir: the servable model; `model_archive` the same as model.tar.gz.
        summary: the evaluation summary's lines, after a success.
        failures: each failed host's failure reason (`""` for the only host), after a failure.
    """

    exit_code: int
    output: Path
    model_dir: Path
    model_archive: Path
    checkpoint_dir: Path
    summary: tuple[str, ...] = ()
    failures: tuple[tuple[str, str], ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


def local_train(data: str | Path, output: str | Path, *, hyperparameters: Pairs = None,
                image: str | None = None, instance_count: int = 1,
                cpus_per_instance: float | None = None,
                memory_per_instance: str | int | None = None, distribution: str = "replicated",
                track: str | None = None, experiment: str | None = None,
                source_dir: str | None = None, entry_point: str | None = None,
                gpus: str | int | None = None) -> LocalTraining:
    """Run `train` over a SageMaker-shaped /opt/ml layout in `output`: as a process, or in the
    Docker `image` (then on `instance_count` containers, as a job with that many instances).

    A second run in the same `output` resumes from its checkpoints.

    Args:
        data: a dataset directory: `train/`, with `validation/` and `test/` optional, or one
            train directory.
        output: the working directory; model.tar.gz and output.tar.gz are written there too.
        hyperparameters: a dict, or `KEY=VALUE` strings, checked as SageMaker's job would.
        cpus_per_instance: with `image`, each container's CPU share, as `docker run --cpus`
            takes it.
        memory_per_instance: with `image`, each container's memory limit, as `docker run
            --memory` takes it ("2g"). `train` reads the limit and streams the images when they
            would not fit.
        distribution: with several instances, "replicated" or "sharded" (the train channel's
            files dealt out between the hosts).
        track: an MLflow tracking URI (./mlruns, http(s)://HOST:PORT or a SageMaker ARN).
        source_dir: a directory of your code; `entry_point` your training script in it.
        gpus: with `image`, the GPUs each container gets, as `docker run --gpus` takes them:
            "all", a count (per instance), or "device=0,1" (dealt out between instances).
    """
    gpu_request = _gpus_for(gpus, image, instance_count)
    source = sourcedir.from_flags(source_dir, entry_point)
    hps = sourcedir.parse_hp_flags(as_pairs(hyperparameters), source)
    channels = split_channel_dirs(str(data))
    output = Path(output).resolve()
    spread = layout.DISTRIBUTIONS[distribution]
    env = tracking_config.job_environment(track, experiment, image=image)
    if image:
        from byoc.driver.local import docker

        # As SDK local mode does: the directory is mounted at /opt/ml/code and named there.
        if source:
            hps.update(sourcedir.training_hyperparameters(
                source, sourcedir.CONTAINER_CODE_DIR, job_name=layout.LOCAL_JOB_NAME))
        code = docker.train(image, channels, output, hps, instance_count=instance_count,
                            cpus=cpus_per_instance, memory=memory_per_instance,
                            distribution=spread, gpus=gpu_request,
                            code_dir=source.directory if source else None,
                            **docker.tracking_options(env, instance_count))
    else:
        if (instance_count > 1 or cpus_per_instance or memory_per_instance
                or distribution != "replicated"):
            raise UserError(
                "--instance-count, --cpus-per-instance, --memory-per-instance and "
                "--distribution need --image: each "
                "instance is a container on a network of its own, as on SageMaker. Build the "
                "image (`make image`) and add --image byoc:cpu.")
        from byoc.driver.local import process

        # The process runs on this machine, so the directory is named where it is.
        if source:
            hps.update(sourcedir.training_hyperparameters(
                source, str(source.directory), job_name=layout.LOCAL_JOB_NAME))
        code = process.train(channels, output, hps, env=env)
    # Both modes use the output dir itself as /opt/ml (with several instances, the chief's
    # OUTPUT/algo-1), so a second run resumes its checkpoints.
    paths = contract.Paths(output / "algo-1" if instance_count > 1 else output)
    found = dict(output=output, model_dir=paths.model_dir,
                 model_archive=output / layout.MODEL_ARCHIVE,
                 checkpoint_dir=paths.checkpoint_dir)
    if code == 0:
        from byoc.job_summary import summary_lines

        return LocalTraining(0, **found, summary=tuple(summary_lines(paths.output_data_dir)))
    hosts = sorted(output.glob("algo-*/output/failure")) if instance_count > 1 else []
    if hosts:
        failures = tuple((f.parents[1].name, f.read_text().strip()) for f in hosts)
    elif paths.failure_file.exists():
        failures = (("", paths.failure_file.read_text().strip()),)
    else:
        failures = ()
    return LocalTraining(code or 1, **found, failures=failures)


def _gpus_for(gpus: str | int | None, image: str | None,
              instance_count: int = 1) -> local_gpus.GpuRequest | None:
    """`--gpus` checked before anything starts: its form, that it comes with an image, and that
    every instance can have GPUs of its own."""
    if gpus is None:
        return None
    request = local_gpus.parse(gpus)
    if not image:
        raise UserError(
            "--gpus needs --image: it hands GPUs to the Docker container as `docker run --gpus` "
            "does. In process mode `train` and `serve` use the GPUs this machine's TensorFlow "
            "sees (choose them with CUDA_VISIBLE_DEVICES=0,1).")
    request.per_host(instance_count)
    return request


@dataclass(frozen=True)
class LocalServing:
    """How a local server ended: its exit code (0 after Ctrl-C or SIGTERM)."""

    exit_code: int


# What `byoc local serve` sets itself, and what to do instead of setting it with --env.
_SET_BY_LOCAL_SERVE = {contract.BASE_DIR_ENV: "it lays out /opt/ml in a directory of its own",
                       contract.PORT_ENV: "use --port", contract.BIND_HOST_ENV: "use --host",
                       contract.MULTI_MODEL_ENV: "use --multi-model"}


def _serving_env(env: Pairs, workers: int | None) -> dict[str, str]:
    """--env for a local server, checked as `byoc deploy --env` is, and against the variables
    local serve sets from its own flags."""
    given = parse_env(as_pairs(env))
    for key, instead in _SET_BY_LOCAL_SERVE.items():
        if key in given:
            raise UserError(f"--env {key}: byoc local serve sets it itself; {instead}.")
    if workers and contract.WORKERS_ENV in given:
        raise UserError(f"--workers and --env {contract.WORKERS_ENV} both set the number of "
                        "workers: keep one of them.")
    return given


def local_serve(model: str | Path | None = None, *, model_dir: str | Path | None = None,
                multi_model: bool = False, port: int = contract.DEFAULT_PORT,
                workers: int | None = None, host: str = contract.LOCAL_HOST,
                image: str | None = None, source_dir: str | None = None,
                entry_point: str | None = None, gpus: str | int | None = None,
                env: Pairs = None) -> LocalServing:
    """Serve a trained model on /ping and /invocations until interrupted: as a process, or in
    the Docker `image`. With `multi_model`, serve SageMaker's multi-model API over `model_dir`
    (one extracted bundle per subdirectory).

    Args:
        model: a model/ directory or model.tar.gz from training.
        workers: gunicorn workers (default: the CPU count).
        host: the address to bind in process mode (default 127.0.0.1, this machine only).
        source_dir: a directory with your handlers; `entry_point` the module that defines them.
        gpus: with `image`, the GPUs the container gets: "all", a count, or "device=0,1".
        env: environment variables for the server (`{"KEY": "VALUE"}` or `["KEY=VALUE"]`), as
            `byoc deploy --env` gives them to the endpoint's container.
    """
    gpu_request = _gpus_for(gpus, image)
    given = _serving_env(env, workers)
    if multi_model != bool(model_dir) or multi_model == bool(model):
        raise UserError(
            "Serve one model with --model DIR_OR_TAR, or several with --multi-model --model-dir "
            "DIR (a directory with one extracted bundle per subdirectory).")
    served = Path(model_dir or model)
    source = sourcedir.from_flags(source_dir, entry_point)
    sourcedir.require_entry_point(source, "byoc local serve")
    sourcedir.check_environment(source, given)
    if source and multi_model:
        raise UserError("With --multi-model each model is served with the code in its own "
                        "directory (code/ beside the bundle); drop --source-dir and "
                        "--entry-point, and put the handlers into each model's code/.")
    if image:
        from byoc.driver.local import docker

        env = {**given, **(sourcedir.serving_environment(source, sourcedir.CONTAINER_CODE_DIR)
                           if source else {})}
        if workers:
            env[contract.WORKERS_ENV] = str(workers)
        return LocalServing(docker.serve(image, served, port, multi_model=multi_model, env=env,
                                         code_dir=source.directory if source else None,
                                         gpus=gpu_request))
    from byoc.driver.local import process

    with tempfile.TemporaryDirectory(prefix="byoc-serve-") as root:
        if multi_model:
            return LocalServing(process.serve_multi_model(served, Path(root), port, workers,
                                                          host, env=given))
        env = {**given, **(sourcedir.serving_environment(source, str(source.directory))
                           if source else {})}
        return LocalServing(process.serve(served, Path(root), port, workers, host, env=env))
