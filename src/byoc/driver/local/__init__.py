"""Local mode: the training and hosting contracts on this machine, in a process or in Docker."""
