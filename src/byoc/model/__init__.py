"""Architectures: one function per network, and a registry by name."""
