"""dllint: a linter and a runtime probe for PyTorch model code."""

__version__ = "0.1.0"
