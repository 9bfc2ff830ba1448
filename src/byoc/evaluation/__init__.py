"""The evaluation report `train` writes to /opt/ml/output/data: headline metrics and where it fails.

Works from numpy arrays (labels, softmax probabilities, images); plots use matplotlib's Agg
renderer through `matplotlib.figure.Figure`, so no global backend is touched and no TensorFlow is
needed. Files, flat in the output directory (<split> is each evaluated split: train, validation,
test):

- `report.md`: open this first. Headline numbers, the model and the runtime `serve` will use (with
  why, when it is not LiteRT), worst classes, top confusions, links to the rest.
- `metrics.json`: flat numbers per split: `<split>_accuracy`, `<split>_loss` (mean cross-entropy,
  probabilities clipped at 1e-7), `<split>_top_<k>_accuracy`, `<split>_macro_f1`,
  `<split>_samples`. A value that is not a number (a diverged model) is written as null.
- `summary_<split>.json`: top-1 vs top-k accuracy, worst classes, most confused class pairs,
  classes absent from the split, and the names of this split's other files.
- `per_class_<split>.csv`: class_id, class_name, precision, recall, f1, support, predicted.
- `confusion_matrix_<split>.csv`: counts; header row and first column are class names (rows are
  the true class, columns the predicted class). `confusion_matrix_<split>.png`: the same,
  normalised per true class, on a square-root colour scale so that small error rates show.
- `confident_wrong_<split>.csv`: the 25 wrong predictions made with the highest probability
  (index is the row in the split). `confident_wrong_<split>.png`: those images, when given.
- `training_curves.png`: loss and accuracy per epoch, train vs validation (when there is history).
- `class_distribution.csv` (one column per split) and `class_distribution.png`.

Undefined ratios (0/0) are NaN, written as an empty CSV cell or JSON null: the precision of a
class never predicted, the recall of a class absent from the split. F1 is 2·TP / (2·TP + FP + FN),
which is 0, not undefined, for a class that is present but never predicted. Macro F1 averages
over the classes present in the split. Top-k counts ties at the k-th place as hits, as Keras's
top-k accuracy does on TensorFlow (tf.math.in_top_k); a k above the number of classes counts every
class, so its accuracy is 1.0.
"""


from byoc.evaluation.analysis import SplitResult, evaluate_split
from byoc.evaluation.report import (
    CURVES_FILE,
    DISTRIBUTION_CSV,
    DISTRIBUTION_PNG,
    METRICS_FILE,
    REPORT_FILE,
    split_files,
    write_report,
)

__all__ = ["CURVES_FILE", "DISTRIBUTION_CSV", "DISTRIBUTION_PNG", "METRICS_FILE", "REPORT_FILE",
           "SplitResult", "evaluate_split", "split_files", "write_report"]
