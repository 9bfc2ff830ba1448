"""The image as SageMaker sees it: label, `train` and `serve` on PATH, nothing but what it runs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

# boto3 comes with sagemaker-mlflow, which signs requests to SageMaker's managed MLflow (an ARN
# in MLFLOW_TRACKING_URI); the driver's own code is still not in the image's dependencies.
RUNTIME = ("byoc", "tensorflow", "keras", "flask", "gunicorn", "matplotlib", "mlflow",
           "sagemaker_mlflow", "boto3")
NOT_SHIPPED = ("sagemaker", "docker", "requests_mock", "pytest", "moto", "sklearn", "hypothesis")


def _run(engine, image: str, *command: str) -> str:
    return engine.containers.run(image, list(command), remove=True).decode()


def test_accept_bind_to_port_label(engine, image):
    labels = engine.images.get(image).labels
    assert labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"


def test_train_and_serve_are_commands_on_path(engine, image):
    config = engine.images.get(image).attrs["Config"]
    assert not config.get("Entrypoint"), "an ENTRYPOINT would swallow `train` / `serve`"
    assert "PYTHONUNBUFFERED=1" in config["Env"]
    found = _run(engine, image, "sh", "-c", "for c in train serve; do command -v $c; done").split()
    assert [path.rsplit("/", 1)[-1] for path in found] == ["train", "serve"]


def test_image_holds_the_runtime_only(engine, image):
    check = (
        "import importlib.util as u, sys; "
        "print(' '.join(n for n in sys.argv[1:] if u.find_spec(n)))"
    )
    found = _run(engine, image, "python", "-c", check, *RUNTIME, *NOT_SHIPPED).split()
    assert found == list(RUNTIME)
    # Neither the build tree, pip's cache nor build tools (strip is used in the builder only).
    leftovers = _run(engine, image, "sh", "-c",
                     "ls -d /src /tmp/deps /root/.cache/pip 2>/dev/null; command -v gcc strip; :")
    assert leftovers.split() == []


def test_byoc_is_installed_from_a_wheel_not_the_source_tree(engine, image):
    location = _run(engine, image, "python", "-c", "import byoc; print(byoc.__file__)").strip()
    assert location.startswith("/opt/venv/lib/") and "/site-packages/byoc/" in location
