"""Evidence gathered outside load, browser and pipeline runs.

Cost Explorer, CloudWatch, CI E2E results (JUnit XML) and a deploy smoke check.

Collection only: each module writes raw evidence into `runs/<id>/sources/`; the judge in `reports/`
decides pass or fail.
"""
