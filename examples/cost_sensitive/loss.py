"""A cost-sensitive loss for byoc's trainer: `loss=loss:cost_sensitive_loss`.

Cross-entropy plus the expected cost of the model's mistakes, read from a cost matrix (row = true
class, column = predicted class): missing a Stop sign costs more than confusing two warning signs.
byoc calls cost_sensitive_loss(num_classes, hp) once, and the training loop calls what it returns
on every batch, as loss(y_true, y_pred): integer labels (batch,) and probabilities
(batch, num_classes) in, one loss per example (batch,) out.
"""

from pathlib import Path

import keras
import numpy as np

HYPERPARAMETERS = {"cost_weight": 1.0, "cost_matrix": "cost_matrix.csv"}


def cost_sensitive_loss(num_classes, hp):
    path = Path(__file__).with_name(hp["cost_matrix"])
    costs = np.loadtxt(path, delimiter=",", comments="#", dtype="float32", ndmin=2)
    if costs.shape != (num_classes, num_classes):
        raise ValueError(f"{path.name} is {costs.shape[0]}x{costs.shape[1]}, but the data has "
                         f"{num_classes} classes: give one row and one column per class")
    # Scaled to 0..1, so that cost_weight=1 weighs the worst mistake like a confident miss.
    costs = keras.ops.convert_to_tensor(costs / costs.max())
    weight = float(hp["cost_weight"])

    def loss(y_true, y_pred):
        y_true = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        crossentropy = keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
        expected_cost = keras.ops.sum(keras.ops.take(costs, y_true, axis=0) * y_pred, axis=-1)
        return crossentropy + weight * expected_cost

    return loss
