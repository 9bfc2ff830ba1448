"""`byoc models add|list`: the models of a multi-model endpoint."""

from __future__ import annotations

import argparse

from byoc.cli.aws_flags import add_aws_verb, connect_from
from byoc.driver import multi_model_endpoints as models


def cmd_add(args: argparse.Namespace) -> int:
    target = models.add(connect_from(args), args.endpoint, training_job=args.training_job,
                 model_data=args.model_data, name=args.name)
    print(f"Added {target}. SageMaker loads it on its first request: byoc invoke --endpoint "
          f"{args.endpoint} --target-model {target} FILE")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    prefix, found = models.stored(connect_from(args), args.endpoint)
    if not found:
        print(f"No models under {prefix} yet: byoc models add --endpoint {args.endpoint} "
              "--training-job NAME")
        return 0
    width = max(len(m.target) for m in found)
    print(f"{len(found)} model(s) under {prefix}")
    for m in found:
        print(f"{m.target:<{width}}  {m.size / 1e6:9.1f} MB  {m.modified}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    verb = subparsers.add_parser("models", help="the models of a multi-model endpoint")
    actions = verb.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = add_aws_verb(actions, "add", cmd_add,
                     help="copy a model under the endpoint's S3 prefix")
    p.add_argument("--endpoint", "--endpoint-name", dest="endpoint", required=True)
    p.add_argument("--training-job", help="add the model of this completed training job")
    p.add_argument("--model-data", metavar="S3_URI", help="add this model.tar.gz")
    p.add_argument("--name", help="its name (default: the training job's, or the file's); "
                                  "invoke it as NAME.tar.gz")
    p = add_aws_verb(actions, "list", cmd_list, help="list the models under the endpoint's prefix")
    p.add_argument("--endpoint", "--endpoint-name", dest="endpoint", required=True)
