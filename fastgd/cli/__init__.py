"""The ``fastgd`` command line and its file helpers."""
from fastgd.cli.main import main

__all__ = ["main"]
