"""Per-hand data files (YAML) and primitives-only MJCF models, read through importlib.resources."""
