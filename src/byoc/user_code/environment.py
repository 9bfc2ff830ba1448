"""The environment and arguments a user's training script gets, as SageMaker's training toolkit
gives them: the `SM_*` variables and `--key value` arguments.

Scripts written for SageMaker's framework containers read `SM_MODEL_DIR`, `SM_CHANNEL_TRAIN`,
`SM_HPS` and the rest, and parse their hyperparameters with argparse. The names, values and
formats here are the toolkit's (sagemaker-training-toolkit: `environment.Environment`,
`mapping.to_env_vars`, `mapping.to_cmd_args`, `ENVIRONMENT_VARIABLES.md`), so such a script runs
unchanged. Everything is computed from a `contract.TrainingEnv` and two counts (GPUs, CPUs) the
caller measures: no side effects, no TensorFlow.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from byoc import contract, gpu
from byoc.contract import TrainingEnv
from byoc.training import cluster as cluster_lib
from byoc.user_code import source

# The toolkit's framework hyperparameters (params.SAGEMAKER_HYPERPARAMETERS): read by the
# container, never passed to the script. Every other `sagemaker_*` key is a framework parameter
# too (SM_FRAMEWORK_PARAMS), such as the distribution flags below.
SAGEMAKER_PREFIX = "sagemaker_"
SAGEMAKER_HYPERPARAMETERS = (
    source.PROGRAM_HP,
    source.SUBMIT_DIR_HP,
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output",
)
LOG_LEVEL_HP = "sagemaker_container_log_level"
JOB_NAME_HP = "sagemaker_job_name"
REGION_HP = "sagemaker_region"
# The SDK 2.x TensorFlow estimator's distribution={"multi_worker_mirrored_strategy": {...}}.
MWMS_HP = "sagemaker_multi_worker_mirrored_strategy_enabled"
# Framework parameters that put the current instance group among the distributed ones.
DISTRIBUTION_FLAGS = (
    "sagemaker_mpi_enabled",
    "sagemaker_parameter_server_enabled",
    "sagemaker_distributed_dataparallel_enabled",
    "sagemaker_pytorch_ddp_enabled",
    "sagemaker_pytorch_xla_multi_worker_enabled",
    MWMS_HP,
    "sagemaker_torch_distributed_enabled",
)
DISTRIBUTION_GROUPS_HP = "sagemaker_distribution_instance_groups"
# What the toolkit assumes when resourceconfig.json leaves them out.
DEFAULT_GROUP = "homogeneousCluster"
DEFAULT_INSTANCE_TYPE = "local"
DEFAULT_INTERFACE = "eth0"
# Set by a SageMaker framework image to its own trainer; byoc's image sets none.
FRAMEWORK_MODULE_ENV = "SAGEMAKER_TRAINING_MODULE"
TRAINING_JOB_NAME_ENV = "TRAINING_JOB_NAME"


def to_cmd_args(mapping: Mapping[str, object]) -> list[str]:
    """`--key value` for each item, keys sorted, as the toolkit's `mapping.to_cmd_args`.

    A one-letter key becomes `-k`. A mapping value becomes `k=v,k2=v2` (keys sorted); anything
    else is `str(value)`, so a decoded `true` arrives as `True` and a list in Python's repr.
    """
    args: list[str] = []
    for key in sorted(mapping):
        name = str(key)
        args.append(("--" if len(name) > 1 else "-") + name if name else "")
        args.append(_arg_value(mapping[key]))
    return args


def _arg_value(value: object) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return "" if value is None else str(value)


def to_env_vars(mapping: Mapping[str, object]) -> dict[str, str]:
    """`SM_<KEY>` for each item, as the toolkit's `mapping.to_env_vars`: strings as they are,
    None as empty, anything else as compact JSON with sorted keys (`true`, `[1,2]`, ...)."""
    return {(f"SM_{str(key).upper()}" if key else ""): _env_value(value)
            for key, value in mapping.items()}


def _env_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


@dataclass(frozen=True)
class ScriptEnvironment:
    """The toolkit's view of one training job, for one host: what the script is told.

    `num_gpus` and `num_cpus` are measured by the caller (see `measure`), and `environ` is the
    container's environment, read only for the variables the toolkit reads.
    """

    training: TrainingEnv
    num_gpus: int = 0
    num_cpus: int = 1
    environ: Mapping[str, str] | None = None

    @cached_property
    def all_hyperparameters(self) -> dict[str, object]:
        """Every hyperparameter, JSON-decoded where it parses, as the toolkit reads them."""
        return {k: source.decode(v) for k, v in self.training.hyperparameters.items()}

    @cached_property
    def hyperparameters(self) -> dict[str, object]:
        """The user's hyperparameters: all but the framework's (`sagemaker_*` and the few
        others the toolkit reserves). These become SM_HPS, SM_HP_<NAME> and the arguments."""
        return {k: v for k, v in self.all_hyperparameters.items() if not _framework_key(k)}

    @cached_property
    def sagemaker_hyperparameters(self) -> dict[str, object]:
        return {k: v for k, v in self.all_hyperparameters.items() if _framework_key(k)}

    @property
    def additional_framework_parameters(self) -> dict[str, object]:
        return {k: v for k, v in self.sagemaker_hyperparameters.items()
                if k not in SAGEMAKER_HYPERPARAMETERS}

    @property
    def _environ(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    @property
    def resource_config(self) -> dict:
        return self.training.resource_config

    @property
    def input_data_config(self) -> dict:
        return self.training.input_data_config

    @property
    def current_host(self) -> str:
        return self.training.current_host

    @property
    def hosts(self) -> list[str]:
        return self.training.hosts

    @property
    def network_interface_name(self) -> str:
        return self.resource_config.get("network_interface_name", DEFAULT_INTERFACE)

    @property
    def channel_input_dirs(self) -> dict[str, str]:
        """Each channel's directory, named as in inputdataconfig.json (the toolkit's source;
        `training` stays `training`). Without that file, the folders under input/data."""
        data = self.training.paths.data_dir
        names = list(self.input_data_config) or [p.name for p in self.training.channels.values()]
        return {name: str(data / name) for name in names}

    @property
    def user_entry_point(self) -> str | None:
        return source.decoded_str(self.training.hyperparameters.get(source.PROGRAM_HP))

    @property
    def module_name(self) -> str | None:
        program = self.user_entry_point
        return program[:-3] if program and program.endswith(".py") else program

    @property
    def module_dir(self) -> str:
        """Where the code came from, as given (an s3:// URI stays one), else the code dir."""
        given = self.sagemaker_hyperparameters.get(source.SUBMIT_DIR_HP)
        return str(given) if given is not None else str(self.training.paths.code_dir)

    @property
    def log_level(self) -> object:
        return self.sagemaker_hyperparameters.get(LOG_LEVEL_HP, logging.INFO)

    @property
    def job_name(self) -> str | None:
        return self._environ.get(TRAINING_JOB_NAME_ENV)

    @property
    def framework_module(self) -> str | None:
        return self._environ.get(FRAMEWORK_MODULE_ENV) or None

    @property
    def current_instance_type(self) -> str:
        return self.resource_config.get("current_instance_type", DEFAULT_INSTANCE_TYPE)

    @property
    def current_instance_group(self) -> str:
        return self.resource_config.get("current_group_name", DEFAULT_GROUP)

    @property
    def _groups(self) -> list[dict]:
        groups = self.resource_config.get("instance_groups") or []
        return [g for g in groups if isinstance(g, dict)]

    @property
    def instance_groups(self) -> list[str]:
        return [g.get("instance_group_name") for g in self._groups]

    @property
    def instance_groups_dict(self) -> dict[str, dict]:
        return {g.get("instance_group_name"): g for g in self._groups}

    @property
    def current_instance_group_hosts(self) -> list[str]:
        group = self.instance_groups_dict.get(self.current_instance_group)
        return list(group.get("hosts", [])) if group else []

    @property
    def is_hetero(self) -> bool:
        return len(self.instance_groups) > 1

    @property
    def distribution_instance_groups(self) -> list[str]:
        params = self.additional_framework_parameters
        if DISTRIBUTION_GROUPS_HP in params:
            return params[DISTRIBUTION_GROUPS_HP]
        if any(params.get(flag, False) for flag in DISTRIBUTION_FLAGS):
            return [self.current_instance_group]
        return []

    @property
    def distribution_hosts(self) -> list[str]:
        if not self._groups:
            return list(self.hosts)
        wanted = self.distribution_instance_groups
        return [h for g in self._groups if g.get("instance_group_name") in wanted
                for h in g.get("hosts", [])]

    @property
    def master_hostname(self) -> str:
        return (self.distribution_hosts or self.hosts)[0]

    @property
    def topology(self) -> list:
        return self.resource_config.get("topology", [])

    @property
    def paths(self) -> dict[str, str]:
        p = self.training.paths
        return {"model_dir": str(p.model_dir), "input_dir": str(p.root / "input"),
                "input_config_dir": str(p.config_dir), "output_dir": str(p.output_dir),
                "output_data_dir": str(p.output_data_dir),
                "output_intermediate_dir": str(p.output_dir / "intermediate")}

    def training_env(self) -> dict[str, object]:
        """SM_TRAINING_ENV: every property of the toolkit's Environment, by its name.

        The ones for accelerators and launchers byoc's image does not have (Neuron cores,
        smddp, model parallelism) carry the values the toolkit reports without them."""
        return {
            "additional_framework_parameters": self.additional_framework_parameters,
            "channel_input_dirs": self.channel_input_dirs,
            "current_host": self.current_host,
            "current_instance_group": self.current_instance_group,
            "current_instance_group_hosts": self.current_instance_group_hosts,
            "current_instance_type": self.current_instance_type,
            "distribution_hosts": self.distribution_hosts,
            "distribution_instance_groups": self.distribution_instance_groups,
            "framework_module": self.framework_module,
            "hosts": self.hosts,
            "hyperparameters": self.hyperparameters,
            "input_data_config": self.input_data_config,
            "instance_groups": self.instance_groups,
            "instance_groups_dict": self.instance_groups_dict,
            "is_hetero": self.is_hetero,
            "is_master": self.current_host == self.master_hostname,
            "is_modelparallel_enabled": None,
            "is_smddpmprun_installed": False,
            "is_smddprun_installed": False,
            "job_name": self.job_name,
            "log_level": self.log_level,
            "master_hostname": self.master_hostname,
            "module_dir": self.module_dir,
            "module_name": self.module_name,
            "network_interface_name": self.network_interface_name,
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "num_neurons": 0,
            "resource_config": self.resource_config,
            "topology": self.topology,
            "user_entry_point": self.user_entry_point,
            **self.paths,
        }

    def cmd_args(self) -> list[str]:
        """The script's arguments: the user's hyperparameters as `--key value`."""
        return to_cmd_args(self.hyperparameters)

    def env_vars(self) -> dict[str, str]:
        """The `SM_*` variables, exactly the set the toolkit's `Environment.to_env_vars` makes."""
        env: dict[str, object] = {
            "hosts": self.hosts,
            "network_interface_name": self.network_interface_name,
            "hps": self.hyperparameters,
            "user_entry_point": self.user_entry_point,
            "framework_params": self.additional_framework_parameters,
            "resource_config": self.resource_config,
            "input_data_config": self.input_data_config,
            "channels": sorted(self.channel_input_dirs),
            "current_host": self.current_host,
            "current_instance_type": self.current_instance_type,
            "current_instance_group": self.current_instance_group,
            "current_instance_group_hosts": self.current_instance_group_hosts,
            "instance_groups": self.instance_groups,
            "instance_groups_dict": self.instance_groups_dict,
            "distribution_instance_groups": self.distribution_instance_groups,
            "is_hetero": self.is_hetero,
            "module_name": self.module_name,
            "log_level": self.log_level,
            "framework_module": self.framework_module,
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "num_neurons": 0,
            "module_dir": self.module_dir,
            "training_env": self.training_env(),
            "user_args": self.cmd_args(),
            **self.paths,
        }
        if self.topology:
            env["topology"] = self.topology
        for name, path in self.channel_input_dirs.items():
            env[f"channel_{name}"] = path
        for key, value in self.hyperparameters.items():
            env[f"hp_{key}"] = value
        return to_env_vars(env)

    def wants_tf_config(self) -> bool:
        """Whether the script gets TF_CONFIG: on every job of more than one host, unless the
        SDK's distribution flag says false.

        SageMaker's TensorFlow toolkit sets it only when the TensorFlow estimator's
        `distribution={"multi_worker_mirrored_strategy": {"enabled": True}}` sends the flag.
        byoc's image is used through the generic `Estimator(image_uri=...)`, which has no
        `distribution` argument, so the flag would rarely arrive; and a script that makes no
        MultiWorkerMirroredStrategy never reads TF_CONFIG. A TF_CONFIG already in the
        environment is the user's and is kept (`cluster.configure`).
        """
        flag = self.additional_framework_parameters.get(MWMS_HP)
        return len(self.hosts) > 1 and (flag is None or _truthy(flag))

    def child_environ(self, base: Mapping[str, str], code_dir: Path) -> dict[str, str]:
        """The script's whole environment: `base` (the container's), the SM_* set, and what the
        toolkit exports beside it. `code_dir` (where the code is on disk) goes first on
        PYTHONPATH, as the toolkit puts it, so a script imports its sibling modules."""
        env = dict(base)
        env.update(self.env_vars())
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code_dir), base.get("PYTHONPATH"))
                                            if p)
        sm = self.sagemaker_hyperparameters
        env["CURRENT_HOST"] = self.current_host
        env["SAGEMAKER_JOB_NAME"] = str(sm.get(JOB_NAME_HP, ""))
        env["SAGEMAKER_REGION"] = str(sm.get(REGION_HP) or base.get("AWS_REGION")
                                      or base.get("AWS_DEFAULT_REGION") or "")
        # Output reaches the job's log as it is written, not when a buffer fills.
        env["PYTHONUNBUFFERED"] = "1"
        if self.wants_tf_config():
            cluster = cluster_lib.Cluster.from_resource_config(self.resource_config, base)
            cluster_lib.configure(cluster, env)
        return env


def _framework_key(key: str) -> bool:
    return key in SAGEMAKER_HYPERPARAMETERS or key.startswith(SAGEMAKER_PREFIX)


def measure() -> tuple[int, int]:
    """(GPUs given to this container, CPUs it may run on), without TensorFlow: the GPUs are the
    /dev/nvidiaN devices `byoc.gpu` finds, the toolkit's `nvidia-smi --list-gpus` count."""
    return len(gpu.log_host().devices), contract.available_cpus()
