"""Record what SageMaker's training toolkit gives a script, for tests/unit/test_user_environment.py.

Run with an interpreter that has `sagemaker-training` installed (it is not a byoc dependency):

    python -m venv /tmp/tk && /tmp/tk/bin/pip install sagemaker-training
    /tmp/tk/bin/python tests/support/record_toolkit_env.py \
        tests/unit/data/sagemaker_training_env.json

Each case is laid out as /opt/ml under a temporary root, read by the toolkit's own
`environment.Environment` in a fresh process (it reads its base directory at import), and its
`to_env_vars()` and `to_cmd_args()` saved with the root written as /opt/ml.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

OPT_ML = "/opt/ml"

# As the SDK writes them: every value a string, JSON-encoded where it is not a plain string.
HYPERPARAMETERS = {
    "sagemaker_program": '"train.py"',
    "sagemaker_submit_directory": '"s3://bucket/job-1/source/sourcedir.tar.gz"',
    "sagemaker_container_log_level": "20",
    "sagemaker_job_name": '"job-1"',
    "sagemaker_region": '"eu-west-1"',
    "_tuning_objective_metric": '"validation:accuracy"',
    "epochs": "3",
    "learning-rate": "0.001",
    "flag": "true",
    "off": "false",
    "name": '"abc"',
    "raw": "plain text",
    "x": "1",
    "layers": "[64, 32]",
    "opts": '{"a": 1, "b": [1, 2]}',
    "none": "null",
    "big": "1e3",
}
CHANNEL = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
           "RecordWrapperType": "None"}


def _resource_config(current: str, groups: dict[str, list[str]], **extra) -> dict:
    hosts = sorted(h for group in groups.values() for h in group)
    group = next(name for name, members in groups.items() if current in members)
    return {"current_host": current, "current_instance_type": "ml.m5.xlarge",
            "current_group_name": group, "hosts": hosts, "network_interface_name": "eth0",
            "instance_groups": [{"instance_group_name": name, "instance_type": "ml.m5.xlarge",
                                 "hosts": members} for name, members in groups.items()],
            **extra}


CASES = {
    "one_host": {
        "hyperparameters": HYPERPARAMETERS,
        "resource_config": _resource_config("algo-1", {"homogeneousCluster": ["algo-1"]}),
        "input_data_config": {"training": CHANNEL, "validation": CHANNEL},
    },
    "two_hosts": {
        "hyperparameters": {**HYPERPARAMETERS,
                            "sagemaker_multi_worker_mirrored_strategy_enabled": "true"},
        "resource_config": _resource_config("algo-2",
                                            {"homogeneousCluster": ["algo-1", "algo-2"]}),
        "input_data_config": {"train": CHANNEL},
    },
    "instance_groups": {
        "hyperparameters": {**HYPERPARAMETERS,
                            "sagemaker_distribution_instance_groups": '["gpus"]'},
        "resource_config": _resource_config("algo-3", {"cpus": ["algo-1"],
                                                       "gpus": ["algo-2", "algo-3"]}),
        "input_data_config": {"train": CHANNEL, "test": CHANNEL},
    },
}

_READ = """
import json
from sagemaker_training import environment
env = environment.Environment()
print(json.dumps({"env": env.to_env_vars(), "args": env.to_cmd_args()}))
"""


def record(case: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ml"
        config = root / "input" / "config"
        config.mkdir(parents=True)
        for name in case["input_data_config"]:
            (root / "input" / "data" / name).mkdir(parents=True)
        for file, key in (("hyperparameters.json", "hyperparameters"),
                          ("resourceconfig.json", "resource_config"),
                          ("inputdataconfig.json", "input_data_config")):
            (config / file).write_text(json.dumps(case[key]))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SM_", "SAGEMAKER_", "TRAINING_JOB"))}
        out = subprocess.run([sys.executable, "-c", _READ], check=True, capture_output=True,
                             text=True, env={**env, "SAGEMAKER_BASE_DIR": str(root)}).stdout
        seen = json.loads(out.strip().splitlines()[-1].replace(str(root), OPT_ML))
    return {**case, **seen}


def main(out: str) -> None:
    recorded = {"toolkit": f"sagemaker-training {metadata.version('sagemaker-training')}",
                "cases": {name: record(case) for name, case in CASES.items()}}
    Path(out).write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
