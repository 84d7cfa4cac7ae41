"""losskit."""
