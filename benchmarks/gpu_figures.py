"""The figures the GPU check reports, from its steps' results and its run folders.

One block of text: CUDA events against torch.cuda.Event and cupy.cuda.Event, the sampler
against NVML and its cost, the matmul peaks, every sweep point's achieved TFLOP/s against
the peak of its dtype and its energy per item, the out-of-memory points, and the parity
ratios against a hand loop over torchvision's ResNet-50.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from suite import stats, storage

SWEEPS = ("sweep", "sweep-compile", "oom")


def _events(r: dict) -> list[str]:
    lines = [f"events ({r.get('kernel')}):"]
    for row in r.get("rows", []):
        known = row.get("ours_vs_known")
        lines.append(f"  {row['target_ms']:>6} ms kernel on {row['stream']}: ours "
                     f"{row['ours_ms']:.4f} ms vs theirs {row['theirs_ms']:.4f} ms "
                     f"({100 * row['median_rel_diff']:+.3f}% median, "
                     f"{100 * row['max_rel_diff']:.3f}% max)"
                     + (f"; vs the known duration {100 * known:+.3f}%" if known is not None
                        else ""))
    return lines


def _sampler(nvml: dict | None, cost: dict | None) -> list[str]:
    lines = []
    if nvml and nvml.get("status") == "ok":
        lines.append("sampler vs NVML: " + ", ".join(
            f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in nvml.items() if k not in ("status",)))
    if cost and cost.get("status") == "ok":
        lines.append(f"sampler cost on {cost['model']} ({cost['device']}, step "
                     f"{cost['step_ms']:.3f} ms, {cost['rounds']} interleaved rounds):")
        lines += [f"  every {r['interval_us']} us: {r['median_cost_pct']:+.2f}% "
                  f"(rounds {r['round_costs_pct']})" for r in cost["rows"]]
        lines.append(f"  smallest interval under 1%: {cost['smallest_interval_under_1pct_us']} us")
    return lines


def _peak_of(run_dir: Path, spec: Any) -> float | None:
    """The peak a point is divided by (suite.peak's rule), in GFLOP/s, where known."""
    try:
        from suite.peak import PEAK_KEY, point_peak_gflops
    except ImportError:
        return None
    peak = storage.read_run_info(run_dir).environment.get(PEAK_KEY)
    figure = point_peak_gflops(peak, spec)
    return figure[0] if isinstance(figure, tuple) else figure


def point_rows(run_dir: Path) -> list[str]:
    """One line per stored point: its figures, TFLOP/s vs peak, J/item, or its status."""
    if not (run_dir / storage.POINTS_FILE).exists():
        return [f"  ({run_dir.name}: no points stored)"]
    lines = []
    for m in storage.load_measurements(run_dir):
        s = m.spec
        label = f"  {s.task} {s.model} {s.optimization} {s.dtype} bs{s.batch_size}"
        if m.status != "ok":
            lines.append(f"{label}: {m.status} - {m.message}")
            continue
        summ = stats.point_summary(m)
        tflops = (summ.gflops_per_second or 0) / 1000
        peak = _peak_of(run_dir, s)
        share = f" = {100 * tflops * 1000 / peak:.1f}% of {peak / 1000:.3g}" if peak else ""
        energy = getattr(m, "energy", None) or {}
        per_item = energy.get("joules_per_item")
        joules = f", {per_item:.4g} J/item ({energy.get('avg_watts', 0):.0f} W avg, " \
                 f"{energy.get('method')})" if per_item is not None else \
            f", energy {energy.get('method', 'not recorded')}"
        lines.append(f"{label}: {summ.median_ms:.3f} ms ({summ.basis}, "
                     f"{m.meta.get('device_timing', 'host')}), {summ.items_per_second:.1f} "
                     f"items/s, {tflops:.3g} TFLOP/s{share}{joules}")
    return lines


def figures_text(work: Path, results: dict[str, Any]) -> str:
    lines = ["== figures"]
    if isinstance(results.get("events"), dict) and results["events"].get("rows"):
        lines += _events(results["events"])
    lines += _sampler(results.get("sampler-nvml"), results.get("sampler-cost"))
    if results.get("peak"):
        lines.append(f"peak: {results['peak']}")
    for name in SWEEPS:
        lines.append(f"{name}:")
        try:
            lines += point_rows(work / name)
        except (OSError, ValueError) as e:
            lines.append(f"  unreadable: {e}")
    parity = results.get("parity") or {}
    for row in parity.get("rows", []):
        lines.append(f"parity {row['task']} bs{row['batch']}: latency ratio "
                     f"{row['latency_ratio']:.3f}, throughput ratio "
                     f"{row['throughput_ratio']:.3f} ({row['reference']}, "
                     f"{row['reference_params']} vs {row['dlbench_params']} parameters)")
    for task, err in (parity.get("errors") or {}).items():
        lines.append(f"parity {task}: {err}")
    return "\n".join(lines)
