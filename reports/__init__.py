"""Reports: load a run, compute metrics from raw samples, judge them (pure), render the verdicts."""
