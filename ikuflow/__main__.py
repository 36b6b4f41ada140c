"""``python -m ikuflow``: the console script."""

from ikuflow.cli import main

main()
