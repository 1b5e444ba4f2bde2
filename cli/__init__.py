"""The `badgechain` command line."""
