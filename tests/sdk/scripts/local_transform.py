"""SDK 2.x local mode: batch Transformers over a folder of PNG files, one per strategy given.

Usage: local_transform.py IMAGE MODEL_DATA INPUT_DIR OUTPUT_DIR STRATEGY...
  STRATEGY is SingleRecord, MultiRecord, or `none` (no strategy: local mode asks the container).
  The transforms run one after the other, in one interpreter (importing the SDK is most of what a
  run costs); each writes to OUTPUT_DIR/STRATEGY and keeps its compose files under
  $TMPDIR/STRATEGY, where the test finds its container.
Prints RESULT {STRATEGY: {"job": describe_transform_job, "execution_parameters": ...,
"error": ...}}.
Local mode asks the container for GET /execution-parameters itself; this script only listens in
(the SDK's own request function, wrapped, still does the request) to report what it got.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import sagemaker.local.entities as entities
from sagemaker.local import LocalSagemakerClient, LocalSession
from sagemaker.model import Model

image, model_data, input_dir, output_dir = sys.argv[1:5]
strategies = sys.argv[5:]

answers = {}
_perform_request = entities._perform_request


def listening(url, pool_manager=None):
    response, code = _perform_request(url, pool_manager)
    if url.endswith("/execution-parameters"):
        answers["execution_parameters"] = {"status": code, "body": json.loads(response.data)}
    return response, code


entities._perform_request = listening


def transform(strategy: str) -> dict:
    answers.clear()
    root = Path(tempfile.gettempdir(), strategy)
    root.mkdir()
    session = LocalSession()
    session.config = {"local": {"local_code": True, "container_root": str(root),
                                "serving_port": int(os.environ["SERVING_PORT"])}}
    model = Model(image_uri=image, model_data=model_data, sagemaker_session=session,
                  role="arn:aws:iam::123456789012:role/SageMakerRole")
    transformer = model.transformer(
        instance_count=1, instance_type="local",
        strategy=None if strategy == "none" else strategy,
        output_path=Path(output_dir, strategy).resolve().as_uri(), accept="application/json")
    earlier = set(LocalSagemakerClient._transform_jobs)
    result = {}
    try:
        # logs=False: local mode has no CloudWatch; with logs the SDK would call the AWS Logs
        # API.
        transformer.transform(Path(input_dir).resolve().as_uri(), content_type="image/png",
                              wait=True, logs=False)
        result["job"] = session.sagemaker_client.describe_transform_job(
            transformer.latest_transform_job.name)
    except Exception as exc:  # reported to the test, which decides
        result["error"] = f"{type(exc).__name__}: {exc}"
        # A failed local transform leaves its serving container up; stop it as the SDK would.
        for name, job in LocalSagemakerClient._transform_jobs.items():
            if name not in earlier and job.container is not None:
                job.container.stop_serving()
    result.update(answers)
    return result


print("RESULT " + json.dumps({strategy: transform(strategy) for strategy in strategies},
                             default=str))
