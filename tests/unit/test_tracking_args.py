"""`--track` and `--experiment` checked before anything exists: URIs, ARNs, experiment names."""

from __future__ import annotations

import pytest

from byoc import tracking_config
from byoc.errors import UserError

GOOD_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/signs-server"


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:5000", "https://mlflow.example.com", GOOD_ARN,
    "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-abc123",
])
def test_servers_and_arns_pass_as_they_are(uri):
    assert tracking_config.check_uri(uri) == uri


def test_a_local_store_is_an_absolute_file_store_mlflow_is_allowed_to_open(tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    for given in ("./mlruns", (tmp_path / "mlruns").as_uri()):
        assert tracking_config.check_uri(given) == (tmp_path / "mlruns").as_uri()
    env = tracking_config.job_environment("./mlruns", None)
    assert env[tracking_config.ALLOW_FILE_STORE_ENV] == "true" and (tmp_path / "mlruns").is_dir()
    store = tracking_config.store_directory(env[tracking_config.TRACKING_URI_ENV])
    assert store == tmp_path / "mlruns"
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert tracking_config.check_uri(db) == db
    assert tracking_config.artifact_location(db) == (tmp_path / "artifacts").as_uri()
    assert tracking_config.artifact_location("http://127.0.0.1:5000") is None


@pytest.mark.parametrize("uri, message", [
    ("arn:aws:sagemaker:eu-west-1:1234:mlflow-tracking-server/x", "is not a SageMaker managed"),
    ("arn:aws:sagemaker:eu-west-1:123456789012:notebook-instance/x", "is not a SageMaker"),
    ("arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/", "is not a SageMaker"),
    ("ftp://host/mlruns", "unknown URI scheme 'ftp:'"),
    ("databricks://profile", "unknown URI scheme 'databricks:'"),
    ("http://", "names no host"),
    ("  ", "needs a tracking URI"),
])
def test_bad_uris_say_what_is_accepted(uri, message):
    with pytest.raises(UserError, match=message):
        tracking_config.check_uri(uri)


@pytest.mark.parametrize("name, message", [
    ("", "empty"), ("x" * 501, "at most 500"), ("signs\nv2", "characters MLflow refuses"),
])
def test_bad_experiment_names(name, message):
    with pytest.raises(UserError, match=message):
        tracking_config.check_experiment(name)


def test_a_remote_job_cannot_log_to_this_machine():
    for uri in ("./mlruns", "http://localhost:5000", "http://127.0.0.1:5000"):
        with pytest.raises(UserError, match="cannot reach this machine"):
            tracking_config.job_environment(uri, None, remote=True)
    env = tracking_config.job_environment(GOOD_ARN, "signs", image="img", tuning_job="t",
                                          remote=True)
    assert env == {tracking_config.TRACKING_URI_ENV: GOOD_ARN,
                   tracking_config.EXPERIMENT_ENV: "signs",
                   tracking_config.IMAGE_ENV: "img", tracking_config.TUNING_JOB_ENV: "t"}


def test_no_uri_no_environment_and_experiment_alone_is_refused():
    assert tracking_config.job_environment(None, None) == {}
    with pytest.raises(UserError, match="--experiment needs --track"):
        tracking_config.job_environment(None, "signs")


def test_sagemaker_managed_mlflow_takes_fewer_characters():
    assert tracking_config.check_experiment("signs/v2.1_a-b", GOOD_ARN) == "signs/v2.1_a-b"
    with pytest.raises(UserError, match="letters, digits and -_./ only"):
        tracking_config.job_environment(GOOD_ARN, "signs v2", remote=True)
    assert tracking_config.check_experiment("signs v2", "http://host:5000") == "signs v2"


SECRET = "s3cret-T0ken"


@pytest.mark.parametrize("text, shown", [
    (f"http://byoc:{SECRET}@mlflow.example.com:5000", "http://***@mlflow.example.com:5000"),
    (f"https://{SECRET}@host/path?x=1", "https://***@host/path?x=***"),
    (f"https://host/api?token={SECRET}&user=me", "https://host/api?token=***&user=***"),
    (f"API request to http://u:{SECRET}@h:5/api/2.0/runs failed with exception x",
     "API request to http://***@h:5/api/2.0/runs failed with exception x"),
    (f"Max retries exceeded with url: /?token={SECRET}/api/2.0/get&name=b (Caused by x)",
     "Max retries exceeded with url: /?token=***&name=*** (Caused by x)"),
    (f"http://u:p@ss{SECRET}@host:5/", "http://***@host:5/"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    (GOOD_ARN, GOOD_ARN),
    ("file:///tmp/mlruns", "file:///tmp/mlruns"),
])
def test_redact_hides_the_credentials_of_every_url(text, shown):
    assert tracking_config.redact(text) == shown


@pytest.mark.parametrize("uri", [f"ftp://byoc:{SECRET}@host/mlruns", f"http://:{SECRET}@",
                                 f"sftp://host/mlruns?password={SECRET}"])
def test_a_refused_uri_is_quoted_without_its_credentials(uri):
    with pytest.raises(UserError) as refused:
        tracking_config.check_uri(uri)
    assert SECRET not in str(refused.value) and "***" in str(refused.value)


def test_a_remote_job_refusal_hides_the_credentials():
    with pytest.raises(UserError, match="cannot reach this machine") as refused:
        tracking_config.job_environment(f"http://byoc:{SECRET}@localhost:5000", None, remote=True)
    assert SECRET not in str(refused.value)
