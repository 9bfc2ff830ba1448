"""SDK 2.x local mode: an Estimator with checkpoint_s3_uri (a file:// URI) on a local instance.

Usage: local_checkpoint.py IMAGE DATA_DIR CHECKPOINT_DIR OUTPUT_DIR
Prints RESULT {"error": ...} or {"model_data": ...} if local mode ever accepts it.
"""

import json
import sys
from pathlib import Path

from sagemaker.estimator import Estimator
from sagemaker.local import LocalSession

image, data_dir, checkpoint_dir, output_dir = sys.argv[1:5]
session = LocalSession()
session.config = {"local": {"local_code": True}}
estimator = Estimator(image_uri=image, role="arn:aws:iam::123456789012:role/SageMakerRole",
                      instance_count=1, instance_type="local",
                      hyperparameters={"epochs": 1, "batch_size": 32},
                      checkpoint_s3_uri=Path(checkpoint_dir).resolve().as_uri(),
                      output_path=Path(output_dir).resolve().as_uri(), sagemaker_session=session)
try:
    estimator.fit({c: (Path(data_dir) / c).resolve().as_uri()
                   for c in ("train", "validation", "test")})
    result = {"model_data": estimator.model_data}
except ValueError as exc:
    result = {"error": str(exc)}
print("RESULT " + json.dumps(result))
