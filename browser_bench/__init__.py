"""Browser bench: frame timing of PAVI's alignment view in real Chromium; raw data only, no verdicts."""
