"""Benchmarks: engine throughput and memory (`python benchmarks/engine.py --help`)."""
