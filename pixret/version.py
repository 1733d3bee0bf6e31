"""The version of pixret: one place that every module, the package build and output markers read."""

__version__ = "0.2.0"
