"""Small, deterministic experiments behind the demo report (no download at run time)."""
