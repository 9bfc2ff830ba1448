"""SDK 3.x on "AWS" (moto, through AWS_ENDPOINT_URL) with the user's own code:
ModelTrainer(source_code=SourceCode(...)) on two instances.

Usage: aws_model_trainer.py IMAGE_URI BUCKET SOURCE_DIR
Prints RESULT {"job", "status"} or {"error"}.
"""

import json
import sys
import traceback

from sagemaker.core.helper.session_helper import Session
from sagemaker.core.training.configs import Compute, InputData, OutputDataConfig, SourceCode
from sagemaker.train import ModelTrainer

image_uri, bucket, source_dir = sys.argv[1:4]
result = {}
try:
    trainer = ModelTrainer(
        training_image=image_uri,
        role="arn:aws:iam::123456789012:role/SageMakerRole",
        source_code=SourceCode(source_dir=source_dir, entry_script="train.py"),
        compute=Compute(instance_type="ml.m5.xlarge", instance_count=2),
        hyperparameters={"epochs": 20, "batch-size": 64},
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{bucket}/byoc/output"),
        base_job_name="byoc-script",
        # A named bucket: the SDK would otherwise ask STS's regional endpoint, which it builds
        # itself (AWS_ENDPOINT_URL does not reach it), for the account of its default one.
        sagemaker_session=Session(default_bucket=bucket),
    )
    trainer.train(input_data_config=[
        InputData(channel_name=c, data_source=f"s3://{bucket}/signs/{c}/")
        for c in ("train", "validation")])
    job = trainer._latest_training_job
    result = {"job": job.training_job_name, "status": job.training_job_status}
except Exception as exc:  # reported to the test, which decides
    result["error"] = f"{type(exc).__name__}: {exc}"
    traceback.print_exc()
print("RESULT " + json.dumps(result, default=str))
