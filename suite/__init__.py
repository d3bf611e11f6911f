"""dlbench: the same deep-learning workloads in several frameworks, measured honestly.

Rooms and the direction of their imports (tests/test_structure.py checks that no two rooms
import each other, directly or round a loop, lazy and TYPE_CHECKING imports included): from the bottom,
- facts and pure functions: errors, spec, stats, timing, topology, options, cache,
  blocks, ratios, storage, env, models (the zoo), estimate;
- what runs inside one process: measure, energy, workerlib, frameworks (the adapters),
  then the process entries worker, dataparallel (ranks), equivalence_worker;
- what starts processes: runner and schedule, launchers (local, Slurm), sweep, peak, cost;
- the capabilities built on those: serving (serve, tune), report (tables, plots, page,
  compare);
- the command line on top: commands, cli, __main__.
A lower room never imports a higher one; a function two rooms need lives in the lower.
"""

__version__ = "0.1.0"
