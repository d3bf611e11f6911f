"""Blocks: the points that differ only in framework, optimization and arm (CONTRACT §15).

A block's points are compared with each other, round by round, as paired ratios to the
block's reference variant; the interleaved schedule runs a block's points back to back
within each round, so a drift of the machine hits them alike. Pure functions; the
scheduler (`suite.schedule`) and the ratio statistics (`suite.ratios`) both use them.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

from suite.spec import PointSpec

# The fields that name a variant within a block; every other field is the block's.
VARIANT_FIELDS = ("framework", "optimization", "arm")
CONTROL_ARM = "control"     # PointSpec.arm of the blind second copy of the reference


def block_key(spec: PointSpec) -> str:
    """A stable string naming the block of `spec` (its fields but the variant's)."""
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)
              if f.name not in VARIANT_FIELDS}
    return repr(sorted(fields.items()))


def variant(spec: PointSpec) -> tuple[str, str, str]:
    """(framework, optimization, arm) of `spec`."""
    return spec.framework, spec.optimization, getattr(spec, "arm", "")


def group_blocks(specs: Iterable[PointSpec]) -> dict[str, list[PointSpec]]:
    """The specs by block, blocks and their points in first-seen order."""
    blocks: dict[str, list[PointSpec]] = {}
    for spec in specs:
        blocks.setdefault(block_key(spec), []).append(spec)
    return blocks


def parse_reference(text: str | None) -> tuple[str, str | None] | None:
    """`--reference fw[:opt]` as (framework, optimization or None); None for the default."""
    if not text:
        return None
    framework, _, optimization = text.partition(":")
    return framework.strip(), (optimization.strip() or None)


def reference_variant(frameworks: Sequence[str], optimizations: dict[str, Sequence[str]],
                      chosen: tuple[str, str | None] | None = None) -> tuple[str, str]:
    """The block reference: `chosen` (its first optimization where none is named), else the
    first framework listed in its first optimization."""
    framework = chosen[0] if chosen else frameworks[0]
    optimization = chosen[1] if chosen and chosen[1] else optimizations[framework][0]
    return framework, optimization
