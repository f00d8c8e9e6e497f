"""The project's benchmarks: each prints its figures (recorded in docs/benchmarks.md) and asserts nothing.

Run one from the repository with `bin/bench NAME [options]` (`bin/bench` lists them); it runs
`python -m benchmarks.NAME` in the project's virtual environment, or `benchmarks/NAME.sh` for the shell ones.
Every benchmark takes `--smoke`: tiny sizes and a few steps, seconds instead of minutes, to check that it still
runs (tests/unit/test_benchmarks.py and tests/integration/test_labeling_benchmarks.py do, in CI); the figures of
a smoke run mean nothing.
"""
