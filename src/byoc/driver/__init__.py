"""The driver: takes images and data to AWS, and runs the same verbs locally. Never imports TensorFlow."""
