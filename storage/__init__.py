"""LevelDB storage (coming with the BNS issue)."""
