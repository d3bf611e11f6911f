"""Serving under load (CONTRACT §14): MLPerf LoadGen drives k pinned worker instances.

- `instance`: the worker side, one batch of N samples per request (in `suite.worker`);
- `pool`: the runner side, k workers on disjoint core sets (`suite.topology`);
- `batcher`: the system under test's dynamic batching over the pool;
- `loadgen`: LoadGen's settings per scenario, the test and its logs;
- `figures`: pure functions from a point's per-query latencies to its figures, LoadGen's
  beside them, and whether a Server test held its p99 bound (LoadGen's verdict first);
- `verdict`: the tune verdict from the verification points (goal met, speedup with CI);
- `rundir`: the run folder, `--resume` and `--launcher` through the shared run-folder code;
- `serve` / `tune`: the two commands (`cli`: their options).

Nothing here imports `suite.report` (the report imports the verdict from here), but the
CLI's last step, building the page.

Nothing here imports a deep-learning framework in the runner process.
"""
