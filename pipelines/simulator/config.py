"""Simulation parameters (deterministic for a seed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEFAULT_START = datetime(2026, 7, 6, tzinfo=UTC)  # a Monday; the demo ends 8 weeks later
# The shared folder beside the project root (not the working directory: the same data from anywhere)
DEFAULT_SMS_CSV = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "sms_spam" / "messages.csv"
)


@dataclass(frozen=True)
class SimulationConfig:
    n_users: int = 40_000
    weeks: int = 8
    seed: int = 0
    start: datetime = DEFAULT_START
    scam_rate: float = 0.02  # share of users who are scammers or taken-over accounts
    # share of scam users per typology (account_takeover victims are drawn from benign users)
    typology_mix: dict[str, float] = field(
        default_factory=lambda: {
            "fake_client": 0.30,
            "fraud_ring": 0.25,
            "account_takeover": 0.18,
            "payment_fraud": 0.12,
            "fake_freelancer": 0.15,
        }
    )
    label_horizon_days: int = 21  # labels decided later than end + horizon are not known yet
    wrong_scam_label_rate: float = 0.03  # scammers wrongly cleared as benign
    wrong_benign_label_rate: float = 0.02  # investigated benign users wrongly labelled scam
    drift_weeks: int = 2  # a new scam variant (task / crypto scams) in the last weeks
    sms_csv: Path | None = DEFAULT_SMS_CSV

    @property
    def end(self) -> datetime:
        return self.start + timedelta(weeks=self.weeks)

    def __post_init__(self) -> None:
        if self.n_users < 200:
            raise ValueError(f"n_users must be at least 200, got {self.n_users}")
        if self.weeks < 2:
            raise ValueError(f"weeks must be at least 2, got {self.weeks}")
        if not 0 < self.scam_rate < 0.5:
            raise ValueError(f"scam_rate must be in (0, 0.5), got {self.scam_rate}")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
