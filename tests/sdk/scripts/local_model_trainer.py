"""SDK 3.x local container mode with the user's own code: ModelTrainer(source_code=SourceCode(...)).

Usage: local_model_trainer.py IMAGE DATA_DIR SOURCE_DIR HOSTS ROOT_DIR [HP=VALUE ...]
The SDK copies its own driver scripts beside the source directory and runs the image with
`/bin/bash -c "... sm_train.sh"` as its entry point (not `train`).
Prints RESULT {"model_data", "error"}.
"""

import json
import sys
from pathlib import Path

from sagemaker.core.training.configs import Compute, InputData, SourceCode
from sagemaker.train import ModelTrainer
from sagemaker.train.model_trainer import Mode

image, data_dir, source_dir, hosts, root_dir = sys.argv[1:6]
hyperparameters = dict(arg.split("=", 1) for arg in sys.argv[6:])
data = Path(data_dir).resolve()
root = Path(root_dir).resolve()
root.mkdir(parents=True, exist_ok=True)

result = {}
try:
    trainer = ModelTrainer(
        training_image=image,
        training_mode=Mode.LOCAL_CONTAINER,
        role="arn:aws:iam::123456789012:role/SageMakerRole",
        source_code=SourceCode(source_dir=source_dir, entry_script="train.py"),
        compute=Compute(instance_type="local_cpu", instance_count=int(hosts)),
        hyperparameters=hyperparameters,
        local_container_root=str(root),
        base_job_name="byoc-user-script",
    )
    trainer.train(input_data_config=[
        InputData(channel_name=channel, data_source=str(data / channel))
        for channel in ("train", "validation")])
    result["model_data"] = str(root / "compressed_artifacts" / "model.tar.gz")
except Exception as exc:  # reported to the test, which decides
    result["error"] = f"{type(exc).__name__}: {exc}"
print("RESULT " + json.dumps(result, default=str))
