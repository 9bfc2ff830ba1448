"""The AWS options many verbs share: tags, VPC, KMS key, network isolation; checked once.

`resolve` checks them all before anything is created or uploaded, and the request builders ask
the resulting `AwsOptions` for their fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from byoc.errors import UserError
from byoc.pairs import parse_pairs

MAX_TAGS = 49  # SageMaker takes 50 tags on a resource; byoc's mark is one of them
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5
_ENV_KEY = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,511}")
# byoc's mark on what it creates and may later find or remove: the jobs `byoc jobs` lists, the
# models and endpoint configs `byoc delete` and `deploy --update` may delete.
CREATED_BY_BYOC = {"Key": "byoc:created-by", "Value": "byoc"}


def parse_tags(pairs: Iterable[str] | None) -> dict[str, str]:
    tags = parse_pairs(pairs, "--tags", "team=vision")
    if len(tags) > MAX_TAGS:
        raise UserError(f"--tags: at most {MAX_TAGS} tags, got {len(tags)} (SageMaker takes 50, "
                        f"and byoc adds its mark {CREATED_BY_BYOC['Key']}).")
    for key, value in tags.items():
        if key.lower().startswith("aws:"):
            raise UserError(f"--tags: '{key}' starts with aws:, which AWS keeps for itself.")
        if len(key) > 128 or len(value) > 256:
            raise UserError(f"--tags: '{key}' is too long (keys up to 128 characters, values up "
                            "to 256).")
    return tags


def parse_env(pairs: Iterable[str] | None) -> dict[str, str]:
    env = parse_pairs(pairs, "--env", "LOG_LEVEL=debug")
    for key, value in env.items():
        if not _ENV_KEY.fullmatch(key):
            raise UserError(f"--env: '{key}' is not a variable name (letters, digits and _, not "
                            "starting with a digit).")
        if len(value) > 512:
            raise UserError(f"--env: the value of {key} is longer than SageMaker's 512 "
                            "characters.")
    return env


def _ids(text: str | None, flag: str, prefix: str, limit: int) -> tuple[str, ...]:
    ids = tuple(part.strip() for part in (text or "").split(",") if part.strip())
    for value in ids:
        if not value.startswith(prefix):
            raise UserError(f"{flag}: '{value}' is not an id like {prefix}0123abcd.")
    if len(ids) > limit:
        raise UserError(f"{flag}: at most {limit}, got {len(ids)}.")
    return ids


@dataclass(frozen=True)
class AwsOptions:
    """Tags, VPC, KMS key and network isolation of what a verb creates."""

    tags: dict[str, str] = field(default_factory=dict)
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    kms_key: str | None = None
    network_isolation: bool = False

    def tag_list(self) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in self.tags.items()]

    def vpc_config(self) -> dict | None:
        if not self.subnets:
            return None
        return {"Subnets": list(self.subnets), "SecurityGroupIds": list(self.security_groups)}

    def tagged(self) -> dict:
        """`Tags=...` for a create call, when there are any."""
        return {"Tags": self.tag_list()} if self.tags else {}

    def marked(self) -> dict:
        """`Tags=...` for a create call: the user's tags and byoc's mark."""
        return {"Tags": [*self.tag_list(), CREATED_BY_BYOC]}

    def model_fields(self) -> dict:
        """VpcConfig and EnableNetworkIsolation of a CreateModel request, when set."""
        fields: dict = {}
        if self.vpc_config():
            fields["VpcConfig"] = self.vpc_config()
        if self.network_isolation:
            fields["EnableNetworkIsolation"] = True
        return fields


NO_OPTIONS = AwsOptions()  # no tags, VPC, key or isolation: what SageMaker does by default


def resolve(*, tags: Iterable[str] | dict[str, str] | None = None, subnets: str | None = None,
            security_groups: str | None = None, kms_key: str | None = None,
            network_isolation: bool = False) -> AwsOptions:
    """Check the options of what a verb creates, as the flags give them.

    Args:
        tags: `KEY=VALUE` strings, or a dict of tags.
        subnets: comma-separated VPC subnet ids (with `security_groups`).
        security_groups: comma-separated VPC security group ids (with `subnets`).
        kms_key: a KMS key id, ARN or alias for what is written.
        network_isolation: no network access for the container.
    """
    if isinstance(tags, dict):
        tags = [f"{k}={v}" for k, v in tags.items()]
    subnet_ids = _ids(subnets, "--subnets", "subnet-", MAX_SUBNETS)
    groups = _ids(security_groups, "--security-groups", "sg-", MAX_SECURITY_GROUPS)
    if bool(subnet_ids) != bool(groups):
        raise UserError("--subnets and --security-groups go together: a VPC configuration needs "
                        "both.")
    key = (kms_key or "").strip() or None
    if kms_key is not None and key is None:
        raise UserError("--kms-key is empty: pass a KMS key id, ARN or alias/NAME.")
    return AwsOptions(tags=parse_tags(tags), subnets=subnet_ids, security_groups=groups,
                      kms_key=key, network_isolation=network_isolation)
