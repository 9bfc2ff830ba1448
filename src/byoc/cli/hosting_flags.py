"""The flags of `byoc deploy` that its update path shares: which model (`model_source_from`),
how it is hosted (`add_hosting_flags`, `hosting_from`) and its autoscaling (`scaling_from`)."""

from __future__ import annotations

import argparse

from byoc.cli import scaling_verbs as autoscaling_flags
from byoc.cli.types import whole_number
from byoc.driver import autoscaling, deployment, hosting
from byoc.errors import UserError


def model_source_from(args: argparse.Namespace) -> deployment.ModelSource:
    """The model the flags name (--training-job, --run, --tuning-job, --package, or
    --model-data and --image)."""
    return deployment.ModelSource(
        training_job=args.training_job, run=args.run, track=args.track,
        model_data=args.model_data, image=args.image, role=args.role,
        source_dir=args.source_dir, entry_point=args.entry_point,
        package=getattr(args, "package", None), force=getattr(args, "force", False),
        tuning_job=getattr(args, "tuning_job", None))


def scaling_from(args: argparse.Namespace, spec: hosting.Hosting, *,
                 check_count: bool = True) -> autoscaling.Scaling | None:
    """The autoscaling `byoc deploy` asks for, checked against the rest of its flags;
    `check_count=False` where the instance count is fitted into its bounds instead (an
    update)."""
    if not autoscaling_flags.given(args):
        return None
    deployment.refuse_serverless_scaling(spec)
    scaling = autoscaling_flags.scaling_from(args)
    if check_count:
        deployment.check_scaling(spec, scaling)
    if args.no_wait:
        raise UserError("Autoscaling is set once the endpoint is InService, so byoc waits for "
                        "it: drop --no-wait, or leave out the autoscaling flags and set them "
                        f"later with byoc scale --endpoint {args.endpoint_name} ...")
    return scaling


_HOSTING_FLAGS = ("instance_type", "instance_count", "serverless_memory", "max_concurrency",
                  "provisioned_concurrency", "multi_model", "model_prefix", "async_output",
                  "async_failure", "max_concurrent_invocations", "capture", "capture_percent",
                  "startup_timeout", "model_download_timeout", "inference_ami_version",
                  "subnets", "network_isolation")


def hosting_from(args: argparse.Namespace, default_instance_type: str,
                 default_instance_count: int = 1) -> hosting.Hosting:
    """The `Hosting` that `byoc deploy`'s flags ask for, checked; the defaults stand in for
    --instance-type and --instance-count left out (an update keeps the endpoint's)."""
    values = {name: getattr(args, name) for name in _HOSTING_FLAGS}
    if values["instance_count"] is None:
        values["instance_count"] = 1 if args.serverless_memory else default_instance_count
    return hosting.resolve(default_instance_type=default_instance_type, **values)


def add_hosting_flags(parser: argparse.ArgumentParser) -> None:
    """`byoc deploy`'s hosting flags, in help groups by feature."""
    group = parser.add_argument_group("multi-model endpoint")
    group.add_argument("--multi-model", action="store_true",
                       help="host every model under --model-prefix (Mode=MultiModel); add "
                            "models with byoc models add, invoke with --target-model")
    group.add_argument("--model-prefix", metavar="S3_PREFIX",
                       help="with --multi-model: the S3 prefix that holds the models' .tar.gz")

    group = parser.add_argument_group("serverless")
    group.add_argument("--serverless-memory", type=whole_number, metavar="MB",
                       help="host serverless with this much memory: "
                            f"{', '.join(map(str, hosting.SERVERLESS_MEMORY_MB))}")
    group.add_argument("--max-concurrency", type=whole_number, metavar="N",
                       help=f"concurrent requests, 1-{hosting.MAX_SERVERLESS_CONCURRENCY} "
                            "(default 1)")
    group.add_argument("--provisioned-concurrency", type=whole_number, metavar="N",
                       help="containers kept warm, at most --max-concurrency")

    group = parser.add_argument_group("asynchronous")
    group.add_argument("--async-output", metavar="S3_URI",
                       help="make the endpoint asynchronous; its answers go here (invoke it "
                            "with byoc invoke --async)")
    group.add_argument("--async-failure", metavar="S3_URI",
                       help="where the errors of failed requests go (default "
                            f"ASYNC_OUTPUT/{hosting.DEFAULT_FAILURE_PREFIX})")
    group.add_argument("--max-concurrent-invocations", type=whole_number, metavar="N",
                       help=f"requests each instance works on at once, 1-"
                            f"{hosting.MAX_CONCURRENT_INVOCATIONS} (default: SageMaker's choice)")

    group = parser.add_argument_group("data capture and start-up")
    group.add_argument("--capture", metavar="S3_URI",
                       help="capture requests and answers here (JSON and CSV as text)")
    group.add_argument("--capture-percent", type=whole_number, metavar="P",
                       help="share of requests captured, 0-100 (default 100)")
    group.add_argument("--startup-timeout", type=whole_number, metavar="SECONDS",
                       help=f"time for the container to answer /ping, {hosting.TIMEOUT_RANGE[0]}-"
                            f"{hosting.TIMEOUT_RANGE[1]}")
    group.add_argument("--model-download-timeout", type=whole_number, metavar="SECONDS",
                       help=f"time to download and extract the model, {hosting.TIMEOUT_RANGE[0]}-"
                            f"{hosting.TIMEOUT_RANGE[1]}")
    group.add_argument("--inference-ami-version", choices=tuple(hosting.INFERENCE_AMIS),
                       metavar="AMI",
                       help="GPU host image (default on GPU instance types: "
                            f"{hosting.default_inference_ami()}, whose NVIDIA driver runs the "
                            "image's "
                            f"CUDA {'.'.join(map(str, hosting.IMAGE_CUDA))}); one of "
                            f"{', '.join(hosting.INFERENCE_AMIS)}")
