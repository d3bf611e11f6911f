"""Serving under load (CONTRACT §14): MLPerf LoadGen drives k pinned worker instances.

- `instance`: the worker side, one batch of N samples per request (in `suite.worker`);
- `pool`: the runner side, k workers on disjoint core sets (`suite.topology`);
- `batcher`: the system under test's dynamic batching over the pool;
- `loadgen`: LoadGen's settings per scenario, the test and its logs;
- `figures`: pure functions from a point's per-query latencies to its figures;
- `serve` / `tune`: the two commands.

Nothing here imports a deep-learning framework in the runner process.
"""
