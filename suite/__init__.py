"""dlbench: the same deep-learning workloads in several frameworks, measured honestly."""

__version__ = "0.1.0"
