"""byoc: bring your own container to Amazon SageMaker."""

__version__ = "0.1.0"
