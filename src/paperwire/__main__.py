"""``python -m paperwire``: the command line."""

from .cli import main

main()
