"""Graph passes: each a function graph -> changed (see manager.py for the pipeline)."""
