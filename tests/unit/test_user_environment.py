"""The SM_* environment and arguments of a user's training script, judged by SageMaker's own
training toolkit: data/sagemaker_training_env.json holds what sagemaker-training's
`Environment.to_env_vars()` and `to_cmd_args()` gave for the same /opt/ml (recorded by
tests/support/record_toolkit_env.py, since the toolkit is not a byoc dependency)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byoc.contract import Paths, TrainingEnv
from byoc.training import cluster
from byoc.user_code import environment
from byoc.user_code.environment import ScriptEnvironment, to_cmd_args, to_env_vars

RECORDED = json.loads((Path(__file__).parent / "data" / "sagemaker_training_env.json").read_text())
CASES = RECORDED["cases"]


def _training_env(case: dict, root: str = "/opt/ml", channels=None) -> TrainingEnv:
    return TrainingEnv(paths=Paths(Path(root)), hyperparameters=dict(case["hyperparameters"]),
                       input_data_config=case["input_data_config"],
                       resource_config=case["resource_config"], channels=channels or {})


def _script_env(case: dict, **kwargs) -> ScriptEnvironment:
    cpus = int(case["env"]["SM_NUM_CPUS"]) if "env" in case else 4
    return ScriptEnvironment(_training_env(case, **kwargs), num_gpus=0, num_cpus=cpus, environ={})


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_environment_is_the_toolkits(name):
    case = CASES[name]
    got = _script_env(case).env_vars()
    # Same names, then same values (one by one, so that a difference names its variable).
    assert sorted(got) == sorted(case["env"])
    for key, value in case["env"].items():
        if key == "SM_TRAINING_ENV":
            assert json.loads(got[key]) == json.loads(value)
        assert got[key] == value, key


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_arguments_are_the_toolkits(name):
    case = CASES[name]
    assert _script_env(case).cmd_args() == case["args"]
    assert json.loads(_script_env(case).env_vars()["SM_USER_ARGS"]) == case["args"]


def test_what_a_script_reads_most():
    """The values a course-style script relies on, spelled out (the recorded case, one host)."""
    env = _script_env(CASES["one_host"]).env_vars()
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_CHANNELS"] == '["training","validation"]'
    assert env["SM_CHANNEL_TRAINING"] == "/opt/ml/input/data/training"
    assert env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert env["SM_HOSTS"] == '["algo-1"]' and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    # The SDK's JSON is decoded: numbers and booleans are JSON again in SM_HPS and SM_HP_*,
    # a string that is not JSON stays as it was; framework keys are not the user's.
    hps = json.loads(env["SM_HPS"])
    assert hps["epochs"] == 3 and hps["flag"] is True and hps["raw"] == "plain text"
    assert not [k for k in hps if k.startswith("sagemaker_") or k.startswith("_")]
    assert env["SM_HP_LEARNING-RATE"] == "0.001" and env["SM_HP_FLAG"] == "true"
    assert env["SM_HP_NAME"] == "abc" and env["SM_HP_LAYERS"] == "[64,32]"
    # The code's location as given, not where it was unpacked.
    assert env["SM_MODULE_DIR"] == "s3://bucket/job-1/source/sourcedir.tar.gz"
    assert env["SM_LOG_LEVEL"] == "20" and env["SM_FRAMEWORK_MODULE"] == ""


# The toolkit's own cases for mapping.to_cmd_args and to_env_vars (test/unit/test_mapping.py),
# less the bytes ones: hyperparameters read from JSON are never bytes.
@pytest.mark.parametrize("mapping,expected", [
    ({"da-sh": "1", "un_der": "2", "un-sh": "3", "da_der": "2"},
     ["--da-sh", "1", "--da_der", "2", "--un-sh", "3", "--un_der", "2"]),
    ({}, []),
    ({"": ""}, ["", ""]),
    ({"unicode": "¡ø", "floats": 4.0, "int": 2}, ["--floats", "4.0", "--int", "2",
                                                  "--unicode", "¡ø"]),
    ({"U": "1", "T": "", "": "42"}, ["", "42", "-T", "", "-U", "1"]),
    ({"nested": ["1", ["2", "3", [["6"]]]]}, ["--nested", "['1', ['2', '3', [['6']]]]"]),
    ({"map": {"a": [1, 3, 4]}, "channel_dirs": {"train": "foo", "eval": "bar"}},
     ["--channel_dirs", "eval=bar,train=foo", "--map", "a=[1, 3, 4]"]),
    ({"truthy": True, "falsy": False}, ["--falsy", "False", "--truthy", "True"]),
])
def test_cmd_args_as_the_toolkit_makes_them(mapping, expected):
    assert to_cmd_args(mapping) == expected


@pytest.mark.parametrize("mapping,expected", [
    ({"model_dir": "/opt/ml/model", "OUTPUT_DIR": "/opt/ml/output"},
     {"SM_MODEL_DIR": "/opt/ml/model", "SM_OUTPUT_DIR": "/opt/ml/output"}),
    ({}, {}),
    ({"": None}, {"": ""}),
    ({"floats": 4.0, "int": 2, "unicode": "¡ø"},
     {"SM_FLOATS": "4.0", "SM_INT": "2", "SM_UNICODE": "¡ø"}),
    ({"nested": ["1", ["2", "3", [["6"]]]]}, {"SM_NESTED": '["1",["2","3",[["6"]]]]'}),
    ({"channel_dirs": {"eval": "bar", "train": "foo"}, "map": {"a": [1, 3, 4]}},
     {"SM_CHANNEL_DIRS": '{"eval":"bar","train":"foo"}', "SM_MAP": '{"a":[1,3,4]}'}),
    ({"truthy": True, "falsy": False}, {"SM_FALSY": "false", "SM_TRUTHY": "true"}),
])
def test_env_vars_as_the_toolkit_makes_them(mapping, expected):
    assert to_env_vars(mapping) == expected


def test_without_inputdataconfig_the_channels_are_the_folders(tmp_path):
    """A root laid out by hand may have no inputdataconfig.json; the folders name the channels,
    by their own names (`training` is not renamed to byoc's `train`)."""
    case = {**CASES["one_host"], "input_data_config": {}}
    del case["env"]
    folders = {"train": tmp_path / "input/data/training", "test": tmp_path / "input/data/test"}
    env = _script_env(case, root=str(tmp_path), channels=folders).env_vars()
    assert env["SM_CHANNELS"] == '["test","training"]'
    assert env["SM_CHANNEL_TRAINING"] == str(tmp_path / "input/data/training")


def _child(case: dict, base: dict[str, str] | None = None) -> dict[str, str]:
    return _script_env(case).child_environ(base or {"PYTHONPATH": "/site"}, Path("/opt/ml/code"))


def test_the_child_environment_beside_the_sm_set():
    env = _child(CASES["one_host"], {"PYTHONPATH": "/site", "AWS_REGION": "us-east-1",
                                     "HOME": "/root"})
    assert env["HOME"] == "/root"  # the container's own environment passes through
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONPATH"] == "/opt/ml/code:/site"
    assert env["CURRENT_HOST"] == "algo-1" and env["SAGEMAKER_JOB_NAME"] == "job-1"
    assert env["SAGEMAKER_REGION"] == "eu-west-1"  # sagemaker_region before the container's
    assert cluster.TF_CONFIG_ENV not in env  # one host: nothing to distribute


def test_two_hosts_get_tf_config_from_byocs_cluster():
    env = _child(CASES["two_hosts"])
    assert json.loads(env[cluster.TF_CONFIG_ENV]) == {
        "cluster": {"worker": ["algo-1:2222", "algo-2:2222"]},
        "task": {"type": "worker", "index": 1}}


def test_tf_config_on_every_multi_host_job_unless_the_sdk_flag_says_false():
    case = CASES["two_hosts"]
    unasked = {k: v for k, v in case["hyperparameters"].items() if k != environment.MWMS_HP}
    assert cluster.TF_CONFIG_ENV in _child({**case, "hyperparameters": unasked})
    declined = {**unasked, environment.MWMS_HP: "false"}
    assert cluster.TF_CONFIG_ENV not in _child({**case, "hyperparameters": declined})


def test_a_tf_config_of_the_users_own_is_kept():
    mine = '{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}'
    env = _child(CASES["two_hosts"], {cluster.TF_CONFIG_ENV: mine})
    assert env[cluster.TF_CONFIG_ENV] == mine

