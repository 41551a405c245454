"""Benchmarks of the processing job (not imported by the job, not in its image): see docs/performance.md."""
