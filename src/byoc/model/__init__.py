"""Architectures, and export/load of the servable bundle."""
