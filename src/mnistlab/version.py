"""The version of mnistlab: one home, at the bottom of the layers, for every module to read."""

__version__ = "0.1.0"
