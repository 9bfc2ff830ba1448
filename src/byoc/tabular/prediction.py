"""Predictions of a finished run: its model on new rows, checked column by column against what it
was trained on, and the best single candidate refit on every row."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from byoc.errors import UserError
from byoc.tabular.baseline import COMBINED, LEADERBOARD_FILE, MODEL_FILE
from byoc.tabular.candidate_pipeline import encoded_target, refit
from byoc.tabular.dataset import load, prepare_features, read_csv
from byoc.tabular.families import limit_openmp
from byoc.tabular.search import to_stderr

PREDICTION_COLUMN = "prediction"
PROBABILITY_COLUMN = "probability"
SHAP_BASE_COLUMN = "shap_base"
EXPLAINED = 3  # top contributions per row with --explain


def refit_best_single(out_dir: str | Path, csv_path: str | Path, target: str, seed: int = 0):
    """The leaderboard's best single candidate (no ensemble or stacked model), refit on every row
    of `csv_path`, as a user picking it by hand would: its algorithm, and a function from a
    frame of rows to its predicted labels (classification) or values."""
    board = pd.read_csv(Path(out_dir) / LEADERBOARD_FILE)
    best = board[~board["algorithm"].isin(COMBINED)].iloc[0]
    ds = load(csv_path, target)
    _, classes = encoded_target(ds)
    pipeline = refit(ds, best["algorithm"], json.loads(best["params"]), seed)

    def predict_rows(frame: pd.DataFrame) -> list:
        rows = prepare_features(frame, ds.numeric, ds.categorical, "rows")[ds.features]
        raw = pipeline.predict(rows)
        return [classes[i] for i in raw] if classes else list(raw)

    return best["algorithm"], predict_rows


def _check_columns(frame: pd.DataFrame, bundle: dict, source: str,
                   progress: Callable[[str], None]) -> list[str]:
    """The model's feature columns, after saying how `frame`'s columns differ from training."""
    features = bundle["numeric"] + bundle["categorical"]
    trained = bundle["columns"]
    missing = [name for name in features if name not in frame.columns]
    if missing and not any(name in trained for name in frame.columns):
        raise _no_header(frame, bundle, source)
    if missing:
        raise UserError(
            f"{source} lacks columns the model was trained on: {', '.join(missing)}. It needs "
            f"{', '.join(features)} (the target '{bundle['target']}' may be present or not)."
        )
    extra = [str(name) for name in frame.columns if name not in trained]
    if extra:
        progress(f"note: {source} has columns the model was not trained on; ignored: "
                 f"{', '.join(extra)}")
    present = [name for name in trained if name in frame.columns]
    if [name for name in frame.columns if name in trained] != present:
        progress(f"note: {source} has the training columns in another order; they are matched "
                 "by name")
    numbers = [name for name in bundle["categorical"]
               if pd.api.types.is_numeric_dtype(frame[name]) and frame[name].notna().any()]
    if numbers:
        progress(f"note: columns that held text in training hold only numbers in {source}: "
                 f"{', '.join(numbers)}; they are read as text, so values the model never saw "
                 "count as unknown categories")
    return features


def _no_header(frame: pd.DataFrame, bundle: dict, source: str) -> UserError:
    """The error for a file whose first row names none of the training columns: most often a
    headerless file, whose first row of data pandas took for the names."""
    first = ", ".join(str(name) for name in frame.columns[:8])
    more = ", ..." if len(frame.columns) > 8 else ""
    return UserError(
        f"{source} seems to have no header row: its first row ({first}{more}) names none of "
        f"the columns the model was trained on. Add a header line with the column names, in "
        f"the training file's order: {','.join(bundle['columns'])} (leave out "
        f"'{bundle['target']}' if the rows do not hold it).")


def probability_columns(classes: list[str]) -> list[str]:
    """One column per class, named by the class as Autopilot's `labels` lists them; prefixed
    with 'probability_' only if a class is itself called 'prediction' or 'probability'."""
    if {PREDICTION_COLUMN, PROBABILITY_COLUMN} & set(classes):
        return [f"{PROBABILITY_COLUMN}_{c}" for c in classes]
    return list(classes)


def predict(model_dir: str | Path, csv_path: str | Path, probabilities: bool = False,
            progress: Callable[[str], None] = to_stderr, explain: bool = False) -> pd.DataFrame:
    """Predictions of the model in `model_dir` for every row of `csv_path`: a `prediction`
    column, and with `probabilities` the predicted label's `probability` and one column per class;
    with `explain`, each row's top SHAP contributions (`explanation_columns`).

    The file is a pickle: load only models you made or trust.
    """
    import joblib

    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise UserError(f"{path} does not exist. Run `byoc autopilot local --out {model_dir}` "
                        "first, or pass the directory it wrote with --model.")
    bundle = joblib.load(path)
    classes = bundle["classes"]
    if probabilities and not classes:
        raise UserError("--probabilities is for classification models; this one predicts a "
                        f"number ({bundle['problem_type']}). Leave the flag out.")
    frame = read_csv(csv_path)
    features = _check_columns(frame, bundle, str(csv_path), progress)
    frame = prepare_features(frame[features], bundle["numeric"], bundle["categorical"],
                             str(csv_path))
    with warnings.catch_warnings(), limit_openmp():
        warnings.simplefilter("ignore")
        raw = bundle["model"].raw(frame)
    if not classes:
        result = pd.DataFrame({PREDICTION_COLUMN: raw.astype(float)})
    else:
        result = pd.DataFrame({PREDICTION_COLUMN: [classes[i] for i in raw.argmax(axis=1)]})
    if classes and probabilities:
        result[PROBABILITY_COLUMN] = raw.max(axis=1)
        for name, column in zip(probability_columns(classes), raw.T, strict=True):
            result[name] = column
    if explain:
        result = pd.concat([result, _explanations(bundle, frame, path)], axis=1)
    return result


def explanation_columns(top: int = EXPLAINED) -> list[str]:
    """`shap_base`, then `top_1`, `top_1_shap`, ...: the column and its SHAP value, largest
    first."""
    return [SHAP_BASE_COLUMN] + [f"top_{k}{suffix}" for k in range(1, top + 1)
                                 for suffix in ("", "_shap")]


def _explanations(bundle: dict, frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Each row's SHAP base value and its top contributions (byoc.tabular.contributions)."""
    from byoc.tabular import contributions

    if "background" not in bundle:
        raise UserError(f"{path} was written before `autopilot local` kept the rows SHAP needs; "
                        "run `byoc autopilot local` again to explain its predictions.")
    with warnings.catch_warnings(), limit_openmp():
        warnings.simplefilter("ignore")
        found = contributions.explain(bundle["model"], bundle["background"], bundle["classes"],
                                      rows=frame)
    top = min(EXPLAINED, frame.shape[1])
    cells = []
    for i in range(len(frame)):
        row = [float(found.base[i])]
        for name, _, value in found.top(i, top):
            row += [name, value]
        cells.append(row)
    return pd.DataFrame(cells, columns=explanation_columns(top))


def write_predictions(predictions: pd.DataFrame, out=None) -> None:
    predictions.to_csv(out or sys.stdout, index=False, lineterminator="\n", float_format="%.6g")
