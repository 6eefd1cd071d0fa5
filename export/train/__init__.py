"""Training recipes: one module per model family, sharing the loop in loop.py."""
