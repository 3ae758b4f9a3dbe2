"""The one place that talks to MLflow's tracking store and registry.

Every stage that logs a run or loads a registered model goes through here:

* :func:`client` — an ``MlflowClient`` bound to the settings' tracking (and registry) URI;
* :func:`ensure_experiment` — find or create an experiment, its artifacts under
  ``settings.artifact_root``;
* :func:`tracking` — a ``with`` block inside which MLflow's fluent API (``mlflow.start_run``,
  ``mlflow.pyfunc.log_model``, ``load_model``) talks to the settings' store. The previous
  tracking and registry URIs (and their environment variables) are restored on exit, so library
  code leaves no process-wide state behind;
* :func:`resolve_alias` / :func:`load_python_model` — a registered model by alias, resolved to its
  exact version first so the version reported is the version loaded;
* :func:`spark_udf` — a registered version as a Spark UDF (``mlflow.pyfunc.spark_udf``), for
  batch scoring past one machine.

Importing this module does no work; MLflow itself is imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scamguard.settings import Settings

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

_REGISTRY_ENV = "MLFLOW_REGISTRY_URI"


def client(settings: Settings) -> MlflowClient:
    """A client for the settings' tracking store, which is also the model registry."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def ensure_experiment(settings: Settings, name: str) -> str:
    """The id of experiment ``name``, created (artifacts under ``artifact_root``) if missing.

    For the default SQLite store the data dir is created first (the database lives in it).
    """
    if settings.tracking_uri.startswith("sqlite:"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    mlflow_client = client(settings)
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(
        mlflow_client.create_experiment(name, artifact_location=settings.artifact_root.as_uri())
    )


@contextmanager
def tracking(settings: Settings) -> Iterator[MlflowClient]:
    """Point MLflow's fluent API at the settings' store for the block; restore the previous URIs
    (and the ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI`` variables MLflow mirrors them to)."""
    import mlflow
    from mlflow.tracking import is_tracking_uri_set

    previous_tracking = mlflow.get_tracking_uri() if is_tracking_uri_set() else None
    previous_registry = os.environ.get(_REGISTRY_ENV)  # set_registry_uri mirrors it here
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    try:
        yield client(settings)
    finally:
        mlflow.set_tracking_uri(previous_tracking)  # type: ignore[arg-type]  # None unsets it
        mlflow.set_registry_uri(previous_registry)  # type: ignore[arg-type]
        if previous_registry is None:
            os.environ.pop(_REGISTRY_ENV, None)


_NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})


class RegistryUnavailable(ConnectionError):
    """The registry could not be asked (as opposed to answering that a model does not exist)."""


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str | None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def resolve_alias(settings: Settings, name: str, alias: str, *, hint: str) -> RegisteredVersion:
    """The version that ``name@alias`` points at now.

    Raises ``LookupError`` naming the model, the alias, the store and ``hint`` (the command that
    would register one) when the registry says there is none, and :class:`RegistryUnavailable`
    when it could not be asked (a server down, a database that cannot be opened).
    """
    from mlflow.exceptions import MlflowException

    try:
        version = client(settings).get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in _NOT_FOUND_CODES:
            raise LookupError(
                f"no model {name!r} with alias {alias!r} in {settings.tracking_uri}: {hint}"
            ) from exc
        raise RegistryUnavailable(
            f"could not read {name}@{alias} from the registry at {settings.tracking_uri}: "
            f"{' '.join(str(exc.message).split())[:300]}"
        ) from exc
    return RegisteredVersion(name=name, version=str(version.version), run_id=version.run_id)


def load_python_model(settings: Settings, version: RegisteredVersion) -> Any:
    """The python model object behind a registered pyfunc version, loaded into memory."""
    import mlflow.pyfunc

    with tracking(settings):
        return mlflow.pyfunc.load_model(version.uri).unwrap_python_model()


def spark_udf(
    settings: Settings, spark: Any, version: RegisteredVersion, *, result_type: str
) -> tuple[Any, list[str]]:
    """(a Spark UDF scoring with the pyfunc of ``version``, its signature's input columns in order).

    ``mlflow.pyfunc.spark_udf`` in this Python environment (``env_manager="local"``): the model's
    files are copied to the executors once and each Python worker loads it once. ``result_type``:
    a DDL struct, e.g. ``"risk double, decision string"``. Call the UDF on a ``struct`` of the input
    columns, cast as the signature declares them.
    """
    import mlflow.pyfunc
    from mlflow.models import get_model_info

    with tracking(settings):
        signature = get_model_info(version.uri).signature
        udf = mlflow.pyfunc.spark_udf(
            spark, version.uri, result_type=result_type, env_manager="local"
        )
    if signature is None:
        raise ValueError(f"{version.uri} has no signature: its input columns are unknown")
    return udf, list(signature.inputs.input_names())


@contextmanager
def start_run(settings: Settings, experiment: str, *, run_name: str | None = None) -> Iterator[Any]:
    """An MLflow run in ``experiment`` (created if missing), with the fluent API pointed at the
    settings' store for the block (:func:`tracking`). Yields the active ``mlflow.ActiveRun``."""
    import mlflow

    experiment_id = ensure_experiment(settings, experiment)
    with (
        tracking(settings),
        mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run,
    ):
        yield run
