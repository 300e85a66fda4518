"""Pipeline bench: consecutive PAVI jobs, each checked and recorded; judging is left to `reports/`."""
