"""One settings object for paths, URIs and the cost model (env prefix ``SCAMGUARD_``).

Importing this module does no work: no directories are made and nothing is contacted.
Paths are derived lazily from ``data_dir`` by properties.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scamguard.costs import CostModel

_PLACEHOLDER_KEYS = {"", "changeme", "change-me", "secret", "dev-key"}


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``SCAMGUARD_<FIELD>`` in the environment,
    and a field of a nested model with ``__`` between the names, e.g.
    ``SCAMGUARD_COSTS__MISSED_SCAM=150`` or ``SCAMGUARD_COSTS__EVIDENCE__GRAPH=2``.
    """

    model_config = SettingsConfigDict(
        env_prefix="SCAMGUARD_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    environment: str = "development"  # development | production
    data_dir: Path = Path("./data")
    # None -> SQLite tracking store under the data dir (see ``tracking_uri``).
    mlflow_uri: str | None = None
    api_key: str = "dev-key"
    risk_model_name: str = "scamguard-risk"
    # What outcomes and evidence cost: the decision thresholds, the promotion guard and the
    # investigation agent all read it (scamguard/costs.py).
    costs: CostModel = CostModel()

    @field_validator("api_key")
    @classmethod
    def _no_placeholder_key_in_production(cls, value: str, info):  # type: ignore[no-untyped-def]
        environment = info.data.get("environment", "development")
        if environment != "development" and value.strip().lower() in _PLACEHOLDER_KEYS:
            raise ValueError(
                "SCAMGUARD_API_KEY is a placeholder; set a real key outside development"
            )
        return value

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_uri:
            return self.mlflow_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        return (self.data_dir / "mlartifacts").resolve()

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def clean_dir(self) -> Path:
        return self.data_dir / "clean"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def features_dir(self) -> Path:
        return self.data_dir / "features"

    @property
    def scores_dir(self) -> Path:
        return self.data_dir / "scores"

    @property
    def audit_log(self) -> Path:
        return self.data_dir / "audit" / "decisions.jsonl"

    @property
    def analyst_labels_path(self) -> Path:
        """The append-only store of analysts' labels (``scamguard label``, ``POST /v1/labels``)."""
        return self.data_dir / "labels" / "analyst.jsonl"

    @property
    def rules_path(self) -> Path:
        """The declarative rules file (``rules_file``, default ``<data_dir>/rules.yaml``; absent:
        no rules)."""
        return self.rules_file or self.data_dir / "rules.yaml"

    # The endpoint refuses (422) an event dated more than this many seconds after its own clock.
    max_clock_skew_s: float = Field(default=300.0, ge=0.0)
    # Rules beside the model (models/rules.py); None: <data_dir>/rules.yaml. The server re-reads
    # the file when its mtime changes (checked every rules_poll_s seconds) and on SIGHUP.
    rules_file: Path | None = None
    rules_poll_s: float = Field(default=2.0, gt=0.0)
    # The weekly retrain (pipelines/retrain.py): the daily job of this weekday (0 Monday .. 6
    # Sunday) trains a challenger at the end of the day on the labels known by then, and the
    # promote guard decides; Sunday: the model trained at the week's end scores the next week.
    retrain_weekday: int = Field(default=6, ge=0, le=6)
    # Its training table: daily snapshots over the last retrain_daily_days days (the freshest
    # behaviour, a new scam variant included), weekly ones before, back retrain_history_days.
    retrain_daily_days: int = Field(default=7, ge=3)
    retrain_history_days: int = Field(default=28, ge=7)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read from the environment once)."""
    return Settings()
