"""Write a simulated world in the raw-data layout (``<data_dir>/raw/<table>/date=YYYY-MM-DD/``)."""

from __future__ import annotations

from pathlib import Path

from scamguard.io import write_partitioned
from scamguard.schema import TABLES

from .simulator import SimulatedWorld
from .simulator.truth import TRUTH_FILE


def write_world(world: SimulatedWorld, raw_dir: Path, *, truth_dir: Path) -> dict[str, int]:
    """Replace the raw tables with the world's; returns rows written per table.

    The simulator's ground truth (true typology and skill of every user) is written beside, to
    ``truth_dir``, for diagnostics only: the pipelines never read it.
    """
    counts = {}
    for name, spec in TABLES.items():
        df = world.tables[name]
        write_partitioned(df, Path(raw_dir) / name, spec.time_column)
        counts[name] = df.height
    Path(truth_dir).mkdir(parents=True, exist_ok=True)
    world.truth.write_parquet(Path(truth_dir) / TRUTH_FILE)
    return counts
