"""Benchmark data: LiveCodeBench, HumanEval, MBPP, recorded generations; one problem schema and one candidate schema."""
