"""``python -m roomwarden.cli``: the same command line as ``roomwarden``."""

from roomwarden.cli import app

app()
