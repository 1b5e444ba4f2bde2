"""The Badge Name Server (coming with the BNS issue)."""
