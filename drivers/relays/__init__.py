"""Relay drivers: one module per kind of hardware, each with its own config model."""
