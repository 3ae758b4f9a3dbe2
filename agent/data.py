"""From the feature table to the agent's cases: values per split, ``similar_*`` features, indexes.

:func:`prepare_cases` takes the training table (one row per user and weekly ``as_of``, with the
time split of ``features.build``) and returns :class:`AgentData`:

* the :class:`~agent.groups.GroupLayout` of the table's feature columns plus ``similar_*``;
* ``similar_*`` values for every row from the FAISS nearest *training* cases of other users,
  counting a neighbour as a known scam only if its label was decided before the row's ``as_of``
  (``labels`` table; without it every training label counts as known);
* :class:`CaseSet` per split (``values`` [N, D] in layout order, ``labels`` [N], ``owners`` [N]),
  and the standardizer fitted on the training split;
* ``pool_similar`` [N, 3]: the training cases' ``similar_*`` again, as of the end of the training
  window (the latest training ``as_of``), for the completion pool (:func:`pool_values`). A
  training row's own ``similar_*`` count only the labels decided before *its* ``as_of``: the first
  week's see no scam label at all, the next weeks' fewer than any case after training will. Cases
  after training complete their unrevealed similar-case evidence from these, which look like
  theirs; the belief and self-play keep the point-in-time values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from agent.groups import SIMILAR_CASES, GroupLayout, build_layout
from agent.index import SIMILAR_COLUMNS, SimilarCases, Standardizer
from features.catalog import KEY_COLUMNS

SPLITS = ("train", "valid", "test")


@dataclass
class CaseSet:
    """The cases of one split: ``values`` [N, D] (layout order), ``labels`` [N] 0/1, ``owners`` [N]."""

    user_id: np.ndarray = field(repr=False)  # [N] str
    as_of: np.ndarray = field(repr=False)  # [N] datetime64[us]
    typology: np.ndarray = field(repr=False)  # [N] str
    values: np.ndarray = field(repr=False)  # [N, D] float64, NaN = no data
    labels: np.ndarray = field(repr=False)  # [N] int8
    owners: np.ndarray = field(repr=False)  # [N] int64 user codes

    @property
    def size(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, rows: np.ndarray) -> CaseSet:
        return CaseSet(
            user_id=self.user_id[rows],
            as_of=self.as_of[rows],
            typology=self.typology[rows],
            values=self.values[rows],
            labels=self.labels[rows],
            owners=self.owners[rows],
        )


@dataclass
class AgentData:
    """Everything the agent learns from, see the module docstring."""

    layout: GroupLayout
    base_standardizer: Standardizer  # fitted before the similar_* columns existed
    standardizer: Standardizer  # fitted on the training split with similar_* filled
    similar: SimilarCases
    splits: dict[str, CaseSet]
    user_codes: dict[str, int] = field(repr=False)
    pool_similar: np.ndarray = field(default_factory=lambda: np.empty((0, 3)), repr=False)

    @property
    def train(self) -> CaseSet:
        return self.splits["train"]

    @property
    def valid(self) -> CaseSet:
        return self.splits["valid"]

    @property
    def test(self) -> CaseSet:
        return self.splits["test"]

    def similar_bits(self, n: int) -> np.ndarray:
        """Bits [n, G] of every group but ``similar_cases``: what a similar-case lookup compares."""
        bits = np.ones((n, self.layout.n_groups), dtype=bool)
        bits[:, self.layout.groups.index(SIMILAR_CASES)] = False
        return bits

    def similar_values(
        self, values: np.ndarray, as_of: np.ndarray, owners: np.ndarray | None = None
    ) -> np.ndarray:
        """``similar_*`` values [B, 3] for full case values [B, D] (their similar columns ignored)."""
        z = self.base_standardizer.transform(values)
        seconds = as_of.astype("datetime64[us]").astype(np.int64) / 1e6
        return self.similar.features(z, self.similar_bits(len(values)), seconds, owners)

    def pool_values(self) -> np.ndarray:
        """Training values [N, D] with ``similar_*`` as of the end of the training window."""
        return pool_values(self.layout, self.train.values, self.pool_similar)


def pool_values(layout: GroupLayout, values: np.ndarray, pool_similar: np.ndarray) -> np.ndarray:
    """A copy of the training ``values`` [N, D] whose ``similar_*`` columns are ``pool_similar``
    [N, 3] (``SIMILAR_COLUMNS`` order): the completion pool of ``agent.planner.CaseModel``."""
    if pool_similar.shape != (values.shape[0], len(SIMILAR_COLUMNS)):
        raise ValueError(
            f"pool_similar has shape {pool_similar.shape}, expected ({values.shape[0]}, "
            f"{len(SIMILAR_COLUMNS)}): one row of similar_* per training case"
        )
    out = np.array(values, dtype=np.float64, copy=True)
    out[:, [layout.columns.index(c) for c in SIMILAR_COLUMNS]] = pool_similar
    return out


def scam_decided_at(labels: pl.DataFrame | pl.LazyFrame | None) -> pl.DataFrame | None:
    """``user_id, decided_ts``: when each user was first labelled with a scam typology."""
    if labels is None:
        return None
    frame = labels.lazy() if isinstance(labels, pl.DataFrame) else labels
    return (
        frame.filter(pl.col("label") != "benign")
        .group_by("user_id")
        .agg(pl.col("decided_ts").min())
        .collect()
    )


def prepare_cases(
    table: pl.DataFrame,
    *,
    labels: pl.DataFrame | pl.LazyFrame | None = None,
    costs: dict[str, float] | None = None,
    similar_k: int = 20,
) -> AgentData:
    """The agent's cases from the training ``table`` (see the module docstring).

    ``labels`` is the labels table (``user_id, label, decided_ts``) for point-in-time neighbour
    labels; ``costs`` overrides evidence-group costs.
    """
    missing = {"user_id", "as_of", "label", "typology", "split"} - set(table.columns)
    if missing:
        raise ValueError(f"the training table lacks {sorted(missing)}")
    features = [c for c in table.columns if c not in KEY_COLUMNS and c not in SIMILAR_COLUMNS]
    layout = build_layout([*features, *SIMILAR_COLUMNS], costs=costs)
    if layout.unassigned:
        table = table.drop(list(layout.unassigned))
    decided = scam_decided_at(labels)
    if decided is not None:
        table = table.join(decided.rename({"decided_ts": "_decided"}), on="user_id", how="left")
    else:
        table = table.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("_decided"))
    users = table["user_id"].unique().sort().to_list()
    codes = {u: i for i, u in enumerate(users)}
    base_cols = [c for c in layout.columns if c not in SIMILAR_COLUMNS]
    splits: dict[str, CaseSet] = {}
    decided_at: dict[str, np.ndarray] = {}
    for name in SPLITS:
        part = table.filter(pl.col("split") == name)
        values = np.full((part.height, layout.n_features), np.nan)
        values[:, : len(base_cols)] = part.select(
            pl.col(c).cast(pl.Float64) for c in base_cols
        ).to_numpy()
        splits[name] = CaseSet(
            user_id=part["user_id"].to_numpy(),
            as_of=part["as_of"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]"),
            typology=part["typology"].to_numpy(),
            values=values,
            labels=part["label"].cast(pl.Int8).to_numpy(),
            owners=np.asarray([codes[u] for u in part["user_id"].to_list()], dtype=np.int64),
        )
        seconds = part["_decided"].dt.epoch("us").to_numpy().astype(np.float64) / 1e6
        # a scam case with no decided label yet is never "known"; without a labels table, always
        known = np.nan_to_num(seconds, nan=np.inf if decided is not None else -np.inf)
        decided_at[name] = np.where(splits[name].labels == 1, known, np.inf)
    if splits["train"].size == 0:
        raise ValueError("the training table has no train rows")
    train = splits["train"]
    base = Standardizer().fit(train.values, layout.group_of)
    similar = SimilarCases(
        z=base.transform(train.values),
        group_of=layout.group_of,
        n_groups=layout.n_groups,
        label=train.labels,
        decided_at=decided_at["train"],
        owners=train.owners,
        k=similar_k,
    )
    data = AgentData(
        layout=layout,
        base_standardizer=base,
        standardizer=base,  # replaced below, once similar_* are filled
        similar=similar,
        splits=splits,
        user_codes=codes,
    )
    sim_cols = [layout.columns.index(c) for c in SIMILAR_COLUMNS]
    for cases in splits.values():
        if cases.size:
            # a case never counts rows of its own user, in any split
            cases.values[:, sim_cols] = data.similar_values(cases.values, cases.as_of, cases.owners)
    data.standardizer = Standardizer().fit(train.values, layout.group_of)
    end = np.full(train.size, train.as_of.max())
    data.pool_similar = data.similar_values(train.values, end, train.owners)
    return data
