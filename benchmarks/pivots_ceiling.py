"""The ceiling of planning over pivots: every pivot policy and the exact optimum on held-out cases.

Usage (a data dir with clean tables and ``features/training.parquet``, e.g. from ``scamguard
simulate --users 5000 --weeks 8``, ``ingest``, ``features``):

    python benchmarks/pivots_ceiling.py DATA_DIR --cases 2000 --own-mask 1 > rows.json

``--own-mask`` is the case's own evidence every policy starts from (1: the free event group only,
127: every group, charged to every policy alike). The belief, graphs and cases are cached in
``DATA_DIR/pivot_cache.pkl`` (delete it after changing the data or ``agent.pivots``). Prints the
JSON of ``{"meta": ..., "rows": agent.pivots.evaluate.report_rows}``; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from agent.pivots.belief import fit_graph_model
from agent.pivots.evaluate import evaluate_pivots
from agent.pivots.world import PivotData, build_pivot_data
from scamguard.costs import CostModel
from scamguard.settings import Settings


def load(data_dir: Path, own_mask: int, seed: int) -> PivotData:
    cache = data_dir / "pivot_cache.pkl"
    if cache.exists():
        data, belief, graphs = pickle.loads(cache.read_bytes())
    else:
        built = build_pivot_data(Settings(data_dir=data_dir, api_key="bench"), seed=seed)
        data, belief, graphs = built.data, built.belief, built.graphs
        cache.write_bytes(pickle.dumps((data, belief, graphs)))
    valid = data.valid
    p0 = belief.predict(valid.values, np.full(valid.size, own_mask))
    model = fit_graph_model(
        belief, (graphs["train"], data.train.labels), (graphs["valid"], valid.labels, p0), seed=seed
    )
    return PivotData(data, belief, graphs, model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--own-mask", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.time()
    pivots = load(args.data_dir, args.own_mask, args.seed)

    def on_policy(name: str, n: int) -> None:
        print(f"{name}: {n} cases, {time.time() - start:.0f} s", file=sys.stderr, flush=True)

    evaluation = evaluate_pivots(
        pivots, CostModel(), cases=args.cases, own_mask=args.own_mask, on_policy=on_policy
    )
    graphs = [pivots.graphs["test"][r] for r in evaluation.sample.rows]
    meta = {
        "cases": int(evaluation.sample.rows.size),
        "scams": evaluation.sample.scams,
        "split_size": evaluation.sample.split_size,
        "own_mask": args.own_mask,
        **{f"{k}_cases": int(v.sum()) for k, v in evaluation.subsets.items()},
        "accounts_per_case_mean": float(np.mean([len(g.accounts) for g in graphs])),
        "seconds": round(time.time() - start),
    }
    for name, episodes in evaluation.episodes.items():
        meta[f"{name}_mean_reviews"] = float(np.mean([e.reviews for e in episodes]))
    print(json.dumps({"meta": meta, "rows": evaluation.rows}, indent=1))


if __name__ == "__main__":
    main()
