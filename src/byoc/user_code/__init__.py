"""The user's own code in the container: the training script, modules for byoc's trainer, and
inference handlers, under the contract of SageMaker's training and inference toolkits.

`source` finds the source directory and installs its requirements; the rest builds on it. No
TensorFlow here, and no driver code: the container imports this before TensorFlow loads.
"""
