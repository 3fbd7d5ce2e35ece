"""Helpers of ``benchmarks/performance.py``: servers, contenders, sections, report."""
