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

_PLACEHOLDER_KEYS = {"", "changeme", "change-me", "secret", "dev-key", "dev-pii-key"}
DEFAULT_KEY_NAME = "default"  # the name of ``api_key`` among the named keys


def _is_placeholder(value: str) -> bool:
    return value.strip().lower() in _PLACEHOLDER_KEYS


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
    # More endpoint keys, by name, for rotation and per-caller audit:
    # SCAMGUARD_API_KEYS='{"ops": "...", "partner-a": "..."}'. ``api_key`` is the key "default".
    api_keys: dict[str, str] = Field(default_factory=dict)
    # The key of the keyed hash (HMAC-SHA256) that pseudonymises personal data (IPs, device ids,
    # instruments, email domains, texts) in the audit log and the server logs (scamguard/privacy.py).
    pii_key: str = "dev-pii-key"
    # Whether /metrics and the API docs (/docs, /redoc, /openapi.json) are served; None: only in
    # development.
    expose_metrics: bool | None = None
    expose_docs: bool | None = None
    risk_model_name: str = "scamguard-risk"
    # What outcomes and evidence cost: the decision thresholds, the promotion guard and the
    # investigation agent all read it (scamguard/costs.py).
    costs: CostModel = CostModel()

    @field_validator("api_key", "pii_key")
    @classmethod
    def _no_placeholder_key_in_production(cls, value: str, info):  # type: ignore[no-untyped-def]
        environment = info.data.get("environment", "development")
        if environment != "development" and _is_placeholder(value):
            raise ValueError(
                f"SCAMGUARD_{str(info.field_name).upper()} is a placeholder; "
                "set a real key outside development"
            )
        return value

    @field_validator("api_keys")
    @classmethod
    def _named_keys_are_real(cls, value: dict[str, str], info):  # type: ignore[no-untyped-def]
        environment = info.data.get("environment", "development")
        for name, key in value.items():
            if not name.strip():
                raise ValueError("SCAMGUARD_API_KEYS: a key needs a name")
            if environment != "development" and _is_placeholder(key):
                raise ValueError(
                    f"SCAMGUARD_API_KEYS[{name!r}] is a placeholder; "
                    "set a real key outside development"
                )
        return value

    @property
    def endpoint_keys(self) -> dict[str, str]:
        """Every key the endpoint accepts, by name: ``api_key`` as ``"default"`` (unless a named
        key takes that name), then ``api_keys``."""
        return {DEFAULT_KEY_NAME: self.api_key, **self.api_keys}

    @property
    def metrics_exposed(self) -> bool:
        if self.expose_metrics is None:
            return self.environment == "development"
        return self.expose_metrics

    @property
    def docs_exposed(self) -> bool:
        if self.expose_docs is None:
            return self.environment == "development"
        return self.expose_docs

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
    def model_cache_dir(self) -> Path:
        """Verified copies of the served models, for a start while the registry is down."""
        return self.data_dir / "serving" / "cache"

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read from the environment once)."""
    return Settings()
