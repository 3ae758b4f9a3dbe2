"""P(scam) for the case and its reviewed linked accounts over the revealed subgraph.

An equivalent of a GNN over the revealed subgraph, chosen because torch-geometric is not installed,
the revealed subgraphs are stars of at most a few accounts, and a sample holds a few dozen ring
cases (a message-passing network would have more weights than scams to fit them):

* each account's own evidence is the existing masked LightGBM belief (``agent.belief``): the case
  at its revealed mask (``p0``), a reviewed account at its full mask (``p_j``);
* a review's outcome is a *bin*: the account's known scam label (decided before the case's time),
  else its ``p_j`` cut at ``BIN_EDGES`` (a known benign label counts as the lowest bin);
* the neighbour aggregation is the sum, over reviewed accounts, of the log-likelihood ratio of
  their bin given the case's label and the identifier kind (``L[y, kind, bin]``, counted on the
  training cases' graphs, Laplace-smoothed): naive Bayes over the star;
* the case's belief is a Platt map of (logit p0, that sum) fitted per investigation depth (number
  of accounts reviewed: 0, and 1 or more, :data:`MAX_DEPTH`) on the validation cases under
  random investigations;
* a reviewed account's belief is ``b * Q[1, bin] + (1 - b) * Q[0, bin]``, ``Q[y, bin]`` = P(it is
  a scam | its bin, the case's label y) from the training graphs (shrunk to the bin's mean p).

:class:`GraphModel` is also the planners' chance model: a review's bin has probability
``b L[1, kind, bin] + (1 - b) L[0, kind, bin]`` at the case belief ``b``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from agent.belief import MaskedBelief
from agent.pivots.graph import KIND_ORDER, KNOWN_SCAM, CaseGraph, LinkedAccount

BIN_EDGES: tuple[float, ...] = (0.05, 0.3)  # p_j cuts of the unlabelled bins
N_BINS = 1 + len(BIN_EDGES) + 1  # known scam, then the p bins (a known benign label: the lowest)
SCAM_BIN = 0
# Depth buckets 0 and 1+: a valid split holds a few dozen scams, too few for one Platt map per
# depth beyond the first (per-depth maps fitted on 25 valid scams were not monotone in depth).
MAX_DEPTH = 1


def _logit(p: np.ndarray | float) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def account_bins(belief: MaskedBelief, accounts: Sequence[LinkedAccount]) -> np.ndarray:
    """The review bin [n] of each account (module docstring)."""
    if not accounts:
        return np.zeros(0, dtype=np.int64)
    full = belief.layout_.full_mask
    p = belief.predict(np.stack([a.values for a in accounts]), np.full(len(accounts), full))
    bins = 1 + np.digitize(p, BIN_EDGES)
    known = np.asarray([a.known for a in accounts])
    bins[known == KNOWN_SCAM] = SCAM_BIN
    bins[known == 0] = 1
    return bins.astype(np.int64)


def graph_bins(belief: MaskedBelief, graph: CaseGraph) -> list[np.ndarray]:
    """Per identifier of ``graph``, the bins [n_i] of its accounts (one LightGBM call)."""
    flat = account_bins(belief, graph.accounts)
    out, start = [], 0
    for ident in graph.identifiers:
        out.append(flat[start : start + len(ident.accounts)])
        start += len(ident.accounts)
    return out


@dataclass
class GraphModel:
    """The fitted tables and Platt maps (module docstring)."""

    likelihood: np.ndarray  # [2, K, N_BINS]: P(bin | case label y, identifier kind)
    member_scam: np.ndarray  # [2, N_BINS]: P(account is a scam | bin, case label y)
    unreviewed_scam: np.ndarray  # [2, K]: P(an account is an unknown scam | case label y, kind)
    platt: np.ndarray  # [MAX_DEPTH + 1, 3]: (a, c, e) of logit b = a logit p0 + c S + e

    def __post_init__(self) -> None:
        self.llr_table = np.log(self.likelihood[1] / self.likelihood[0]).tolist()  # [K][N_BINS]

    def llr(self, kind: int, b: int) -> float:
        return self.llr_table[kind][b]

    def case_belief(self, p0: float, llr_sum: float, depth: int) -> float:
        a, c, e = self.platt[min(depth, MAX_DEPTH)]
        z = a * float(_logit(p0)) + c * llr_sum + e
        return float(1.0 / (1.0 + np.exp(-z)))

    def bin_probs(self, b: float, kind: int) -> np.ndarray:
        """P(bin) [N_BINS] of reviewing an account behind an identifier of ``kind`` at belief b."""
        return b * self.likelihood[1, kind] + (1 - b) * self.likelihood[0, kind]

    def member_belief(self, b: float, bin_: int) -> float:
        return float(b * self.member_scam[1, bin_] + (1 - b) * self.member_scam[0, bin_])

    def unreviewed_belief(self, b: float, kind: int) -> float:
        return float(b * self.unreviewed_scam[1, kind] + (1 - b) * self.unreviewed_scam[0, kind])


def kind_index(kind: str) -> int:
    return KIND_ORDER.index(kind)


def fit_tables(
    belief: MaskedBelief,
    graphs: Sequence[CaseGraph],
    labels: np.ndarray,
    *,
    alpha: float = 1.0,
    shrink: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(likelihood, member_scam, unreviewed_scam) counted over the training cases' graphs."""
    k = len(KIND_ORDER)
    counts = np.zeros((2, k, N_BINS))
    scam = np.zeros((2, N_BINS))
    seen = np.zeros((2, N_BINS))
    unknown_scam = np.zeros((2, k))
    accounts = np.zeros((2, k))
    p_sum = np.zeros(N_BINS)
    for graph, y in zip(graphs, np.asarray(labels).astype(int), strict=True):
        for ident, bins in zip(graph.identifiers, graph_bins(belief, graph), strict=True):
            ki = kind_index(ident.kind)
            for account, b in zip(ident.accounts, bins, strict=True):
                counts[y, ki, b] += 1
                scam[y, b] += account.label
                seen[y, b] += 1
                p_sum[b] += account.label
                accounts[y, ki] += 1
                unknown_scam[y, ki] += account.label == 1 and account.known != KNOWN_SCAM
    likelihood = (counts + alpha) / (counts.sum(axis=2, keepdims=True) + alpha * N_BINS)
    prior = (p_sum + 0.5) / (seen.sum(axis=0) + 1.0)  # the bin's scam share, both labels pooled
    member = (scam + shrink * prior) / (seen + shrink)
    member[:, SCAM_BIN] = 1.0
    unreviewed = (unknown_scam + shrink * 0.01) / (accounts + shrink)
    return likelihood, member, unreviewed


def random_llr_sums(
    model: GraphModel,
    bins: list[np.ndarray],
    graph: CaseGraph,
    rng: np.random.Generator,
) -> tuple[float, int]:
    """A random investigation's (LLR sum, depth): a uniform number of the accounts reviewed."""
    flat = [
        (kind_index(i.kind), int(b))
        for i, bs in zip(graph.identifiers, bins, strict=True)
        for b in bs
    ]
    if not flat:
        return 0.0, 0
    depth = int(rng.integers(0, len(flat) + 1))
    take = rng.permutation(len(flat))[:depth]
    return float(sum(model.llr(*flat[t]) for t in take)), depth


def fit_graph_model(
    belief: MaskedBelief,
    train: tuple[Sequence[CaseGraph], np.ndarray],
    valid: tuple[Sequence[CaseGraph], np.ndarray, np.ndarray],
    *,
    copies: int = 4,
    seed: int = 0,
    min_scams: int = 10,
) -> GraphModel:
    """Tables on ``train`` = (graphs, labels); Platt per depth on ``valid`` = (graphs, labels,
    p0 [N]: the case's own belief at the mask the investigations start from). A depth bucket with
    fewer than ``min_scams`` distinct scam cases gets the map fitted on every depth."""
    likelihood, member, unreviewed = fit_tables(belief, *train)
    model = GraphModel(likelihood, member, unreviewed, np.tile([1.0, 1.0, 0.0], (MAX_DEPTH + 1, 1)))
    # the Platt maps are filled in place below; llr_table depends on the likelihood only
    graphs, y, p0 = valid
    rng = np.random.default_rng(seed)
    rows, depth, case = [], [], []
    all_bins = [graph_bins(belief, g) for g in graphs]
    for _ in range(copies):
        for i, graph in enumerate(graphs):
            s, d = random_llr_sums(model, all_bins[i], graph, rng)
            rows.append((float(_logit(p0[i])), s, int(y[i])))
            depth.append(min(d, MAX_DEPTH))
            case.append(i)
    x = np.asarray([(r[0], r[1]) for r in rows])
    t = np.asarray([r[2] for r in rows])
    dep = np.asarray(depth)
    pooled = _platt(x, t)
    for d in range(MAX_DEPTH + 1):
        sel = dep == d
        scams = np.unique(np.asarray(case)[sel][t[sel] == 1]).size  # distinct scam cases
        enough = scams >= min_scams and (t[sel] == 0).sum() >= min_scams
        model.platt[d] = _platt(x[sel], t[sel]) if enough else pooled
    return model


def _platt(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    if t.min() == t.max():
        return np.asarray([1.0, 1.0, 0.0])
    fit = LogisticRegression(C=1.0, max_iter=1000).fit(x, t)
    return np.asarray([fit.coef_[0, 0], fit.coef_[0, 1], fit.intercept_[0]])
