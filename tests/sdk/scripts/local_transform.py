"""SDK 2.x local mode: a batch Transformer over a folder of PNG files (one file per request).

Usage: local_transform.py IMAGE MODEL_DATA INPUT_DIR OUTPUT_DIR [STRATEGY]
Prints RESULT {"job": describe_transform_job, "execution_parameters": ..., "error": ...}.
Local mode asks the container for GET /execution-parameters itself; this script only listens in
(the SDK's own request function, wrapped, still does the request) to report what it got.
"""

import json
import os
import sys
from pathlib import Path

import sagemaker.local.entities as entities
from sagemaker.local import LocalSagemakerClient, LocalSession
from sagemaker.model import Model

image, model_data, input_dir, output_dir = sys.argv[1:5]
strategy = sys.argv[5] if len(sys.argv) > 5 else None

answers = {}
_perform_request = entities._perform_request


def listening(url, pool_manager=None):
    response, code = _perform_request(url, pool_manager)
    if url.endswith("/execution-parameters"):
        answers["execution_parameters"] = {"status": code, "body": json.loads(response.data)}
    return response, code


entities._perform_request = listening

session = LocalSession()
session.config = {"local": {"local_code": True, "serving_port": int(os.environ["SERVING_PORT"])}}
model = Model(image_uri=image, model_data=model_data, sagemaker_session=session,
              role="arn:aws:iam::123456789012:role/SageMakerRole")
transformer = model.transformer(instance_count=1, instance_type="local", strategy=strategy,
                                output_path=Path(output_dir).resolve().as_uri(),
                                accept="application/json")
result = {}
try:
    # logs=False: local mode has no CloudWatch; with logs the SDK would call the AWS Logs API.
    transformer.transform(Path(input_dir).resolve().as_uri(), content_type="image/png",
                          wait=True, logs=False)
    result["job"] = session.sagemaker_client.describe_transform_job(
        transformer.latest_transform_job.name)
except Exception as exc:  # reported to the test, which decides
    result["error"] = f"{type(exc).__name__}: {exc}"
    # A failed local transform leaves its serving container up; stop it as the SDK would.
    for job in LocalSagemakerClient._transform_jobs.values():
        if job.container is not None:
            job.container.stop_serving()
result.update(answers)
print("RESULT " + json.dumps(result, default=str))
