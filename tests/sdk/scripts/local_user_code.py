"""SDK 2.x local mode with the user's own code: Estimator(entry_point, source_dir) fit, then
Model(entry_point="inference.py", source_dir) deploy and predict, then a batch Transformer.

Usage: local_user_code.py IMAGE DATA_DIR SOURCE_DIR HOSTS OUT_DIR [HP=VALUE ...]
  With HPS like model=model:build_model the estimator trains with byoc's trainer on the user's
  model; otherwise it runs the source dir's train.py.
  DEPLOY=1 in the environment also deploys (inference.py) and transforms.
Prints RESULT {"model_data", "job", "predictions", "transform": [...], "error"}.
"""

import json
import os
import sys
import traceback
from pathlib import Path

from sagemaker.deserializers import JSONDeserializer
from sagemaker.estimator import Estimator
from sagemaker.local import LocalSagemakerClient, LocalSession
from sagemaker.model import Model
from sagemaker.predictor import Predictor
from sagemaker.serializers import IdentitySerializer

image, data_dir, source_dir, hosts, out_dir = sys.argv[1:6]
hyperparameters = dict(arg.split("=", 1) for arg in sys.argv[6:])
entry_point = os.environ.get("ENTRY_POINT", "train.py")
role = "arn:aws:iam::123456789012:role/SageMakerRole"
data = Path(data_dir).resolve()
out = Path(out_dir).resolve()

session = LocalSession()
port = int(os.environ.get("SERVING_PORT", "8080"))
session.config = {"local": {"local_code": True, "serving_port": port}}
result = {}
try:
    estimator = Estimator(image_uri=image, role=role, instance_count=int(hosts),
                          instance_type="local", sagemaker_session=session,
                          entry_point=entry_point, source_dir=source_dir,
                          hyperparameters=hyperparameters, output_path=out.as_uri())
    estimator.fit({"train": (data / "train").as_uri(),
                   "validation": (data / "validation").as_uri()})
    result["model_data"] = estimator.model_data
    result["job"] = estimator.latest_training_job.name
    if os.environ.get("DEPLOY"):
        model = Model(image_uri=image, model_data=estimator.model_data, role=role,
                      entry_point="inference.py", source_dir=source_dir,
                      sagemaker_session=session, predictor_cls=Predictor,
                      # Names a bucket, so that the SDK does not ask STS (unreachable here) for
                      # its default one; with local_code nothing is uploaded to it.
                      code_location="s3://byoc-local-code/models")
        predictor = model.deploy(initial_instance_count=1, instance_type="local",
                                 serializer=IdentitySerializer(content_type="image/png"),
                                 deserializer=JSONDeserializer())
        pngs = sorted((data / "test").rglob("*.png"))[:3]
        try:
            result["predictions"] = [
                {"file": str(p), "answer": predictor.predict(p.read_bytes())} for p in pngs]
        finally:
            predictor.delete_endpoint(delete_endpoint_config=True)
        inputs = out / "to-classify"
        inputs.mkdir(parents=True)
        for png in pngs:
            (inputs / png.name).write_bytes(png.read_bytes())
        transformer = model.transformer(instance_count=1, instance_type="local",
                                        strategy="SingleRecord", accept="application/json",
                                        output_path=(out / "transformed").as_uri())
        transformer.transform(inputs.as_uri(), content_type="image/png", wait=True, logs=False)
        result["transform"] = {
            p.name: json.loads(p.read_text())
            for p in sorted((out / "transformed").glob("*.out"))}
except Exception as exc:  # reported to the test, which decides
    result["error"] = f"{type(exc).__name__}: {exc}"
    traceback.print_exc()
    # A serving container left running would keep this process (and the test) waiting.
    for endpoint in LocalSagemakerClient._endpoints.values():
        endpoint.stop()
    for job in LocalSagemakerClient._transform_jobs.values():
        if job.container is not None:
            job.container.stop_serving()
print("RESULT " + json.dumps(result, default=str))
