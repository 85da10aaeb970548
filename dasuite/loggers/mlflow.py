"""``logger=mlflow``: params, per-epoch metrics and the summary in an MLflow tracking store.

The default store is a SQLite file in the run folder, ``<run>/mlruns/mlflow.db`` (artifacts beside it
in ``mlruns/artifacts``): no server. Browse it with ``mlflow ui --backend-store-uri
sqlite:///<run>/mlruns/mlflow.db``; ``logger.tracking_uri=`` names a shared store or a server instead.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from dasuite.loggers.base import Logger, require, scalars

STATUS = {"completed": "FINISHED", "interrupted": "KILLED"}  # anything else: FAILED


def _flatten(tree, prefix: str = "") -> dict[str, str]:
    if not isinstance(tree, dict):
        return {prefix[:-1]: str(tree)[:500]}
    flat = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}{key}."))
    return flat


class MLflowLogger(Logger):
    """One MLflow run per run folder (a resumed run goes on in the same MLflow run), in ``experiment``."""

    def __init__(self, run_dir: Path, config: dict, experiment: str = "dasuite", tracking_uri: str | None = None):
        super().__init__(run_dir, config)
        require("mlflow", "mlflow", "mlflow")
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines about creating the store's tables
        artifacts = None
        if tracking_uri is None:
            for module in ("sqlalchemy", "alembic"):  # the SQLite store's; mlflow-skinny comes without them
                require(module, "mlflow", "mlflow")
            store = (self.run_dir / "mlruns").resolve()
            store.mkdir(parents=True, exist_ok=True)
            tracking_uri, artifacts = f"sqlite:///{store / 'mlflow.db'}", (store / "artifacts").as_uri()
        self.client = MlflowClient(tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(experiment, artifacts)
        where = str(self.run_dir.resolve())
        previous = self.client.search_runs([experiment_id], f"tags.`dasuite.run_dir` = '{where}'", max_results=1)
        if previous:  # resumed: params were logged when it started
            self.run_id = previous[0].info.run_id
            self.client.update_run(self.run_id, "RUNNING")
        else:
            self.run_id = self.client.create_run(experiment_id, tags={"dasuite.run_dir": where},
                                                 run_name=self.run_dir.name).info.run_id
            params = [Param(k, v) for k, v in _flatten(config).items()]
            for start in range(0, len(params), 100):  # MLflow takes at most 100 params per call
                self.client.log_batch(self.run_id, params=params[start: start + 100])
        self.last_step = 0

    def log_metrics(self, record: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in scalars(record).items()])
        self.last_step = step

    def log_summary(self, summary: dict) -> None:
        numbers = scalars(summary)
        for key, value in numbers.items():
            self.client.log_metric(self.run_id, f"summary/{key}", value, step=self.last_step)
        for key, value in summary.items():
            if key not in numbers and value is not None:
                self.client.set_tag(self.run_id, f"summary.{key}", str(value)[:5000])
        self.client.set_terminated(self.run_id, STATUS.get(summary.get("status"), "FAILED"))

    def close(self) -> None:
        """Nothing to flush: every call above is written when it returns."""
