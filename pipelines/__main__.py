"""`python -m pipelines …` is `tokenhawk …` (handy before the console script is installed)."""

from .cli import run

run()
