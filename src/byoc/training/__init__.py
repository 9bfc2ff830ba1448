"""Training under SageMaker's contract. `run.main` is what the `train` entrypoint calls; the
package root imports nothing, so its TensorFlow-free parts can be imported alone."""
