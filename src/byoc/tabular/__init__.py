"""The offline Autopilot-style tabular baseline."""
