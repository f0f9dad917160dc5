"""Benchmark harness (issue 7): `python -m bench --quick | --full`.

Every figure is printed beside a baseline measured in the same run, as the median of
several runs, with their ratio. Stages: ingest, relay, projections, end to end,
queries on a big generated city, and resident memory.
"""
