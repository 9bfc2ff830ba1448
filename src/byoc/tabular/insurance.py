"""The insurance-charges table of the classic Autopilot demo, synthesized with its known shape.

Columns: age, sex, bmi, children, smoker, region, charges. Charges grow with age, smokers pay
about three times as much, and smokers with a BMI over 30 pay a large extra (the interaction
that linear models miss and trees find). Only numpy: the driver can run it without pandas.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from byoc.errors import UserError

COLUMNS = ("age", "sex", "bmi", "children", "smoker", "region", "charges")
TARGET = "charges"
REGIONS = ("northeast", "northwest", "southeast", "southwest")
# Share of policy holders with 0..5 children, as in the public data set.
CHILDREN_P = (0.43, 0.24, 0.18, 0.12, 0.02, 0.01)
SMOKER_SHARE = 0.2
OBESE_BMI = 30.0


def generate(rows: int = 1338, seed: int = 0) -> dict[str, np.ndarray]:
    """Column name -> values, `rows` long, reproducible for a seed."""
    if rows < 1:
        raise UserError(f"--rows must be at least 1, not {rows}.")
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 65, size=rows)
    sex = rng.choice(["female", "male"], size=rows)
    region = rng.choice(REGIONS, size=rows)
    # The south-east has the heaviest policy holders in the public data.
    bmi = rng.normal(30.7, 6.0, size=rows) + np.where(region == "southeast", 2.0, 0.0)
    bmi = np.round(np.clip(bmi, 16.0, 53.0), 2)
    children = rng.choice(len(CHILDREN_P), size=rows, p=CHILDREN_P)
    smoker = rng.random(rows) < SMOKER_SHARE

    base = -3000.0 + 265.0 * age + 475.0 * children
    # A minority of non-smokers has costly conditions: the long upper tail of the real charges.
    condition = np.where(rng.random(rows) < 0.1, rng.normal(12000, 4000, size=rows), 0.0)
    noise = rng.exponential(1000.0, size=rows)
    smoker_extra = 13500.0 + 19500.0 * (bmi > OBESE_BMI) + 400.0 * (bmi - OBESE_BMI)
    charges = base + np.where(smoker, smoker_extra, np.maximum(condition, 0.0)) + noise
    charges = np.round(np.maximum(charges, 1100.0), 2)
    return {
        "age": age,
        "sex": sex,
        "bmi": bmi,
        "children": children,
        "smoker": np.where(smoker, "yes", "no"),
        "region": region,
        "charges": charges,
    }


def write_csv(path: Path, rows: int = 1338, seed: int = 0) -> Path:
    """Write the table with a header row; return the path."""
    table = generate(rows, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(zip(*(table[c].tolist() for c in COLUMNS), strict=True))
    return path
