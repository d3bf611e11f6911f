"""Test-wide settings. The sweeps the tests start reuse this machine's kept CPU peak
(``DLBENCH_PEAK=cached``, suite.peak / suite.peak_cache) instead of probing it again in
each of about a hundred sweeps; the first sweep on a fresh machine measures and keeps it.
Tests of the probe itself unset the variable."""
import os

os.environ.setdefault("DLBENCH_PEAK", "cached")
