"""The running node (coming with the node issue)."""
