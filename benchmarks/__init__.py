"""vzskill benchmarks: scripts that generate their own data and print ratios measured in one run.

Run ``python benchmarks/run.py --quick`` (see benchmarks/README.md). Not part of the pytest suite.
"""
