"""Benchmarks that ship with the package: `mnistlab bench speed`."""
