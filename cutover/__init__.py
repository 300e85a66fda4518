"""Blue/green cutover evidence: a zero-downtime prober and an S3 copy verifier.

Both only measure and write into the run store; the judge in `reports/` decides.
"""
