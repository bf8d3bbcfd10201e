"""Benchmarks for rivulet against a real local redis-server (not part of the test suite).

Run from the repository root:

- ``python -m bench.core`` — the core library against Redis Streams (issue 2);
- ``python -m bench.admin`` — the management API at 10,000 channels (issue 3);
- ``python -m bench.dashboard`` — the dashboard's server time and round trips (issue 4).

Each starts a throwaway redis-server (or takes ``--redis-url``) and stops by itself.
"""
