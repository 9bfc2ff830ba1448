"""Autopilot's limits and byoc's defaults for its jobs: modes, candidates, run times, rows."""

from __future__ import annotations

import re

CSV_CONTENT_TYPE = "text/csv;header=present"
JOB_ENDED = ("Completed", "Failed", "Stopped")
MODES = ("AUTO", "ENSEMBLING", "HYPERPARAMETER_TUNING")
# Lower than Autopilot's own defaults (250 candidates, 30 days) so a first run has a bounded cost.
DEFAULT_MAX_CANDIDATES = 10
DEFAULT_MAX_RUNTIME = 4 * 3600
WAIT_MARGIN = 1800  # how long past the job's own limit the client keeps waiting by default
POLL_SECONDS = 30.0
S3_PREFIX = "byoc/autopilot"
MIN_ROWS = 500  # Autopilot refuses a data set with fewer rows
COLUMN_NAME = re.compile(r"[a-zA-Z0-9_-]{1,256}")  # what SampleWeightAttributeName accepts
WEIGHT_MODE = "ENSEMBLING"  # the only mode that takes sample weights
