"""The verdict of `tune`, derived from its stored verification points (pure functions, no
report, no LoadGen): the recommended and the baseline configuration, predicted beside
measured, whether the recommendation met the goal, and its speedup over the baseline with
a 95% CI from the interleaved repeats.

`tune` prints it and writes it to tune.json; the report shows it (`suite.report.serving`
imports it from here: `serving` never imports `report`).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import stats as sp_stats

from suite import stats
from suite.serving.figures import bound_check, serving_figures, within_bound
from suite.spec import Measurement

VERIFY = "verify"


def verify_stage(repeat: int) -> str:
    """The stage of repeat `repeat` (from 1) of the verification: "verify-1", ... Each
    repeat's tests are their own specs, so none replaces another in points.jsonl."""
    return f"{VERIFY}-{repeat}"


def stage_repeat(stage: str) -> int | None:
    """The repeat a verification stage belongs to ("verify-2" -> 2; "verify", an older
    run's single verification -> 1); None for any other stage."""
    if stage == VERIFY:
        return 1
    head, sep, tail = stage.partition("-")
    return int(tail) if head == VERIFY and sep and tail.isdigit() else None


def serving_points(measurements: Iterable[Measurement]) -> list[Measurement]:
    """The serving points (task "serve") among `measurements`."""
    return [m for m in measurements if m.spec.task == "serve"]


def geometric_ci(values: Sequence[float], confidence: float = 0.95
                 ) -> tuple[float, float, float]:
    """The geometric mean of positive values and its CI: the t-interval of the mean of
    their logarithms, exponentiated. (v, nan, nan) for one value; ValueError for none or
    for a value that is not finite and positive."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError(f"values must be finite and positive, got {list(values)}")
    logs = np.log(x)
    centre = float(logs.mean())
    if x.size < 2:
        return math.exp(centre), math.nan, math.nan
    half = float(sp_stats.t.ppf(0.5 + confidence / 2, x.size - 1)
                 * logs.std(ddof=1) / math.sqrt(x.size))
    return math.exp(centre), math.exp(centre - half), math.exp(centre + half)


def ratio_ci(ratios: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """The speedup and its CI from per-repeat paired ratios (`geometric_ci`: the t-interval
    of their log-ratios); pairing cancels the machine's drift between repeats."""
    return geometric_ci(ratios, confidence)


def _by_repeat(points: list[Measurement], role: str) -> dict[int, list[Measurement]]:
    out: dict[int, list[Measurement]] = {}
    for m in points:
        repeat = stage_repeat(m.spec.stage)
        if repeat is not None and role in m.meta.get("roles", []):
            out.setdefault(repeat, []).append(m)
    return out


def _at_goal(points: list[Measurement]) -> Measurement | None:
    return next((m for m in points if m.meta.get("at_goal")), None)


def _peak(points: list[Measurement]) -> float:
    """The highest offered rate whose p99 held the bound stored with the points."""
    held = [m.spec.target_qps for m in points if m.spec.scenario == "server"
            and within_bound(m, float(m.meta.get("p99_bound_ms", math.inf)))]
    return max(held, default=0.0)


def _config_dict(m: Measurement) -> dict[str, int]:
    return {"instances": m.spec.instances, "threads": m.spec.threads,
            "batch": m.spec.batch_size}


def _across_repeats(points: list[Measurement], prefix: str = "") -> dict[str, float]:
    """p50 and p99 of one arm over its repeats: the geometric mean of each repeat's test
    and its CI (`geometric_ci`; the spread between repeats in fresh instances, not one
    test's own CI). Equal weight per repeat, as the speedup's ratios have: the baseline's
    over the recommendation's p50 is then exactly the batch goal's speedup."""
    out: dict[str, float] = {}
    for key in ("p50_ms", "p99_ms"):
        value, low, high = geometric_ci([serving_figures(m)[key] for m in points])
        out.update({prefix + key: value, prefix + key + "_low": low,
                    prefix + key + "_high": high})
    return out


def _failures(points: list[Measurement]) -> list[str]:
    return [f"{m.spec.stage} {m.spec.instances}x{m.spec.threads}: {m.status}: {m.message}"
            for m in points if m.status != "ok"]


def tune_verdict(measurements: Iterable[Measurement]) -> dict[str, Any] | None:
    """The verdict of a tune run from its verification points: the recommended and the
    baseline configuration, predicted vs measured, the speedup with its 95% CI over the
    repeats that measured both, and whether the recommendation met the goal; None when no
    repeat measured both."""
    verify = [m for m in serving_points(measurements) if stage_repeat(m.spec.stage)]
    ok = [m for m in verify if m.status == "ok"]
    rec, base = _by_repeat(ok, "recommended"), _by_repeat(ok, "baseline")
    repeats = [r for r in sorted(rec) if r in base and _at_goal(rec[r]) and _at_goal(base[r])]
    if not repeats:
        return None
    rec_goal = [_at_goal(rec[r]) for r in repeats]
    base_goal = [_at_goal(base[r]) for r in repeats]
    first = rec_goal[0]
    out: dict[str, Any] = {
        "status": "ok", "recommended": _config_dict(first),
        "baseline": _config_dict(base_goal[0]), "repeats": len(repeats),
        "predicted": first.meta.get("predicted", {}),
        "baseline_predicted": base_goal[0].meta.get("predicted", {}),
        "valid": all(bool(m.meta.get("valid")) for m in rec_goal),
        "loadgen_p99_ms": [serving_figures(m)["loadgen_p99_ms"] for m in rec_goal],
        "failed_tests": _failures(verify)}
    out.update(_across_repeats(rec_goal), **_across_repeats(base_goal, "baseline_"))
    if first.spec.scenario == "multistream":
        out.update(_batch_goal(rec_goal, base_goal))
    else:
        out.update(_qps_goal(rec, base, repeats, rec_goal))
    if any("recommended" in m.meta.get("roles", []) for m in verify if m.status != "ok"):
        out["goal_met"] = False
        out["goal_note"] += f"; {len(out['failed_tests'])} verification test(s) failed"
    return out


def _speedup(ratios: list[float]) -> dict[str, Any]:
    speedup, low, high = ratio_ci(ratios)
    return {"speedup": speedup, "speedup_low": low, "speedup_high": high,
            "repeat_speedups": list(ratios)}


def _batch_goal(rec: list[Measurement], base: list[Measurement]) -> dict[str, Any]:
    """Batch goal: met unless the recommendation's median batch latency is significantly
    higher than the baseline's (the speedup's CI wholly below 1; with one repeat, below 1)."""
    ratios = [serving_figures(b)["p50_ms"] / serving_figures(r)["p50_ms"]
              for r, b in zip(rec, base)]
    out: dict[str, Any] = {"goal": "batch", "batch": rec[0].spec.batch_size, **_speedup(ratios)}
    upper = out["speedup_high"] if math.isfinite(out["speedup_high"]) else out["speedup"]
    out["goal_met"] = upper >= 1.0
    out["goal_note"] = ("its median batch latency is not significantly above the "
                        "baseline's" if out["goal_met"] else
                        "its median batch latency is significantly above the baseline's "
                        "(the speedup's CI lies below 1): the profile's choice did not hold")
    return out


def _qps_goal(rec: dict[int, list[Measurement]], base: dict[int, list[Measurement]],
              repeats: list[int], rec_goal: list[Measurement]) -> dict[str, Any]:
    """QPS goal: met when the recommendation's p99 held the bound at the goal's rate in
    every repeat (LoadGen's latency constraint, the harness's p99, keeping up)."""
    first = rec_goal[0]
    bound = float(first.meta.get("p99_bound_ms", math.inf))
    peaks = [_peak(rec[r]) for r in repeats]
    base_peaks = [_peak(base[r]) for r in repeats]
    checks = [bound_check(m, bound) for m in rec_goal]
    held = sum(ok for ok, _ in checks)
    out: dict[str, Any] = {
        "goal": "qps", "qps": first.spec.target_qps, "p99_bound_ms": bound,
        "peak_qps": float(np.median(peaks)), "baseline_peak_qps": float(np.median(base_peaks)),
        "peaks_qps": peaks, "baseline_peaks_qps": base_peaks,
        "goal_met": held == len(checks),
        "goal_note": f"p99 <= {bound:g} ms at {first.spec.target_qps:g} QPS held in {held} "
                     f"of {len(checks)} verification tests"
                     + "".join(f" (repeat {r}: {why})" for r, (ok, why) in zip(repeats, checks)
                               if not ok)}
    if all(p > 0 for p in peaks + base_peaks):
        out.update(_speedup([p / b for p, b in zip(peaks, base_peaks)]))
    else:
        out.update(speedup=math.nan, speedup_low=math.nan, speedup_high=math.nan,
                   repeat_speedups=[])
    return out


def _ms(v: dict[str, Any], prefix: str, name: str) -> str:
    return stats.ci_text(v[prefix + name], v[prefix + name + "_low"],
                         v[prefix + name + "_high"])


def speedup_text(v: dict[str, Any]) -> str:
    """"2.44x (95% CI 2.10x-2.83x, 3 repeats)"; the reason where there is no CI."""
    s, low, high = v["speedup"], v.get("speedup_low", math.nan), v.get("speedup_high", math.nan)
    if not math.isfinite(s):
        return "no speedup (a peak search found no rate within the bound)"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{s:.2f}x (no CI from {v.get('repeats', 1)} repeat)"
    return f"{s:.2f}x (95% CI {low:.2f}x-{high:.2f}x, {v['repeats']} repeats)"


def verdict_sentences(v: dict[str, Any]) -> list[str]:
    """Two sentences: the configuration with its measured figures beside the predicted
    ones and the speedup; then whether the goal was met and why."""
    rec, base = v["recommended"], v["baseline"]
    config = f"{rec['instances']} instance(s) x {rec['threads']} thread(s), batch {rec['batch']}"
    baseline = f"1 x {base['threads']} (batch {base['batch']})"
    pred = {k: (math.nan if x is None else x) for k, x in (v.get("predicted") or {}).items()}
    if v["goal"] == "batch":
        first = (f"{config} for a batch of {v['batch']}: median {_ms(v, '', 'p50_ms')} ms "
                 f"(predicted {pred.get('p50_ms', math.nan):.2f}), p99 {_ms(v, '', 'p99_ms')} "
                 f"ms; {speedup_text(v)} faster than {baseline} (median "
                 f"{_ms(v, 'baseline_', 'p50_ms')} ms)")
    else:
        loadgen = ", ".join(f"{x:.2f}" for x in v.get("loadgen_p99_ms", []))
        first = (f"{config}: peak {v['peak_qps']:g} QPS with p99 <= {v['p99_bound_ms']:g} ms "
                 f"(median of {v['repeats']} searches: "
                 f"{', '.join(f'{p:g}' for p in v.get('peaks_qps', []))}; predicted "
                 f"capacity {pred.get('capacity_qps', math.nan):.1f}), {speedup_text(v)} the "
                 f"{v['baseline_peak_qps']:g} QPS of {baseline}; p99 at {v['qps']:g} QPS "
                 f"{_ms(v, '', 'p99_ms')} ms, LoadGen's {loadgen} ms (predicted "
                 f"{pred.get('p99_ms', math.nan):.2f}; baseline "
                 f"{_ms(v, 'baseline_', 'p99_ms')} ms)")
    goal = ("goal met: " if v.get("goal_met") else "goal not met: ") + v.get("goal_note", "")
    return [first, goal]


def verdict_text(v: dict[str, Any]) -> str:
    """The verdict as one paragraph (the report's and the summary's)."""
    first, goal = verdict_sentences(v)
    return f"{first}. {goal[0].upper()}{goal[1:]}."
