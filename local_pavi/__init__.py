"""Local stand-in for PAVI: API, pipeline stages and a small deterministic genome."""
