"""Where the time goes (`--profile`, `python -m suite profile RUN_DIR`; CONTRACT §17).

One extra, separate worker process per point (`suite.profiling.worker`) builds the point's
runnable exactly as the timed worker does, warms it up, times an unprofiled window of
steps and a profiled window under the framework's own profiler, and reduces what the
profiler saw to one set of operator classes (`classes`) plus the framework's overhead
(profiled step wall time - the sum of op self times) and the profiler's own cost
(profiled / unprofiled step time - 1). Profiled processes never feed the timing figures:
their record is stored beside the point's (`Measurement.profile`) and in `profile.csv`.

The room, from the bottom:
- `classes`: the operator classes and the name tables of each framework, `classify()`;
- `breakdown`: pure arithmetic from op self times and window times to a profile record;
- `attribution`: pure; a change between two profiles, per class (`compare --profile`);
- `collectors`, `tf_ops`: one collector per framework, each importing its framework (and
  its profiler) lazily, inside the profile worker only;
- `worker`: the profile worker process (the runner/worker JSON-lines protocol);
- `driver`: runs one profile worker per ok point of a run, stores the records and
  `profile.csv` (`profile_points`, the `profile` command, `--profile` on a sweep).
The runner process never imports a framework; `suite.report` reads the stored records
and imports only `classes` and `attribution` from here.
"""
