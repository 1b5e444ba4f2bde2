"""`python -m badgechain.cli` runs the command line."""

from .main import main

main()
