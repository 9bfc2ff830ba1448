"""Scripts that print the tables in the docs. Run each from the repository root as a module,
`python -m benchmarks.NAME`, so that it can use the tests' harness (tests/support)."""
