"""Networks: byoc's architectures (one function each, a registry by name) and the user's own,
built and checked by `custom`."""
