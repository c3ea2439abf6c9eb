"""Steward benchmarks: ``python -m bench`` (``make bench``) runs every ``bench/*_bench.py`` module.

Each module exposes ``async def run(ctx: bench.common.BenchContext) -> list[bench.common.Row]``;
see ``bench/README.md``.
"""
