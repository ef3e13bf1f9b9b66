"""Performance measurements of mlship and of the projects it generates.

These are measurements, not timed tests: each reports its figures as ratios against a
baseline measured in the same run, because the machines are shared and noisy.
"""
