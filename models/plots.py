"""Evaluation plots as PNG files: ROC, precision-recall, reliability, feature importance (gain).

Figures are built with the object-oriented ``matplotlib.figure.Figure`` API (Agg canvas), so no
pyplot state or GUI backend is touched and plotting is safe in servers and threads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PLOT_FILES: tuple[str, ...] = ("roc.png", "pr.png", "calibration.png", "feature_importance.png")


def _figure(size: tuple[float, float] = (5.0, 4.5)):  # type: ignore[no-untyped-def]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """ROC curves; ``curves`` maps a split name to (y [N], p [N])."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _figure()
    ax = fig.add_subplot()
    for split, (y, p) in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{split} (AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.axvline(0.01, ls="--", color="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate (recall)", title="ROC")
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=110)
    return path


def plot_pr(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Precision-recall curves; ``curves`` maps a split name to (y [N], p [N])."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig = _figure()
    ax = fig.add_subplot()
    for split, (y, p) in curves.items():
        precision, recall, _ = precision_recall_curve(y, p)
        ax.step(
            recall,
            precision,
            where="post",
            label=f"{split} (AP {average_precision_score(y, p):.3f}, base {np.mean(y):.3f})",
        )
    ax.set(
        xlabel="recall", ylabel="precision", title="Precision-recall", xlim=(0, 1), ylim=(0, 1.02)
    )
    ax.legend(loc="lower left")
    fig.savefig(path, dpi=110)
    return path


def plot_calibration(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, *, n_bins: int = 10
) -> Path:
    """Reliability diagram (equal-width bins: scores are skewed, quantile bins would pile up near 0)
    of calibrated probabilities, with a log-scale histogram of ``p`` beneath."""
    from sklearn.calibration import calibration_curve

    fig = _figure((5.0, 6.0))
    ax, hist = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    for split, (y, p) in curves.items():
        frac_pos, mean_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
        ax.plot(mean_pred, frac_pos, marker="o", label=split)
        hist.hist(p, bins=50, range=(0, 1), histtype="step", label=split)
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set(ylabel="observed scam rate", title=f"Calibration ({n_bins} equal-width bins)")
    ax.legend(loc="upper left")
    hist.set(xlabel="calibrated risk", ylabel="rows", yscale="log")
    fig.savefig(path, dpi=110)
    return path


def plot_feature_importance(
    feature_names: list[str], gain: np.ndarray, path: Path, *, top: int = 25
) -> Path:
    """Horizontal bars of total split gain for the ``top`` features."""
    gain = np.asarray(gain, dtype=np.float64)
    order = np.argsort(gain)[::-1][:top][::-1]  # largest at the top of the chart
    fig = _figure((6.0, 0.25 * len(order) + 1.2))
    ax = fig.add_subplot()
    ax.barh([feature_names[i] for i in order], gain[order])
    ax.set(xlabel="total gain", title=f"Feature importance (gain, top {len(order)})")
    ax.tick_params(axis="y", labelsize=8)
    fig.savefig(path, dpi=110)
    return path


def save_all(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    feature_names: list[str],
    gain: np.ndarray,
    out_dir: Path,
) -> list[Path]:
    """All four plots under ``out_dir`` (named as in :data:`PLOT_FILES`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    roc, pr, cal, imp = (out_dir / name for name in PLOT_FILES)
    return [
        plot_roc(curves, roc),
        plot_pr(curves, pr),
        plot_calibration(curves, cal),
        plot_feature_importance(feature_names, gain, imp),
    ]


REPLAY_PANELS: tuple[tuple[str, str], ...] = (
    ("expected_cost", "expected cost per user-day"),
    ("variant_recall", "recall, new-variant scams"),
    ("recall", "recall, all scams"),
    ("pr_auc", "PR-AUC"),
)


def plot_replay(weeks: list[dict], path: Path, *, title: str) -> Path:
    """``scamguard replay``'s measures per week, one line per arm; ``weeks`` as its JSON
    (``{"week": "YYYY-MM-DD", "<arm>": {measure: value or None}}``)."""
    fig = _figure((9.0, 6.0))
    labels = [w["week"][5:] for w in weeks]
    arms = [k for k in weeks[0] if k != "week"] if weeks else []
    for i, (key, name) in enumerate(REPLAY_PANELS, 1):
        ax = fig.add_subplot(2, 2, i)
        for arm in arms:
            values = [np.nan if w[arm][key] is None else w[arm][key] for w in weeks]
            ax.plot(labels, values, marker="o", label=arm)
        ax.set(title=name, xlabel="week from")
        ax.grid(alpha=0.3)
        if i == 1:
            ax.legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    return path
