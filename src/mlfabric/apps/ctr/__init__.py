"""Click-through-rate training on Criteo-format click logs: the reference recipe
(pandas + scikit-learn in one process) against a distributed Dask cluster, compared at
equal rows and beyond the memory the single process is given.

Public API mirroring ``mlfabric ctr ...``: ``make_data``, ``train``, ``report``, ``runs``;
the reader ``read_file``/``iter_blocks`` takes real Criteo files too. pandas, pyarrow,
scikit-learn, Dask and XGBoost load on first use (the ``ctr`` extra).
"""

from mlfabric.apps import App, Route
from mlfabric.exports import lazy_exports

APP = App(name="ctr", help="Click-through-rate training: pandas against Dask.",
          module=__name__, cli="mlfabric.apps.ctr.cli:app", page="web",
          routes=(Route("runs", "GET", "/ctr/runs/{volume}", access="any",
                        refs="volume:volume"),))

_EXPORTS = {
    "make_data": "generate", "read_manifest": "generate", "shard_plan": "generate",
    "train": "training", "runs": "training", "data_version": "training",
    "report": "report", "report_row": "report:row_line", "REPORT_COLUMNS": "report:COLUMNS",
    "parse_rows": "report",
    "read_file": "criteo", "iter_blocks": "criteo", "shard_files": "criteo",
    "ShardReport": "criteo", "COLUMNS": "criteo",
    "estimate": "pandas_engine", "MemoryBudgetExceeded": "pandas_engine",
    "Signal": "signal", "BayesMeter": "signal",
    "CtrDataset": "records", "TrainResult": "records", "ReportResult": "records",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS,
                                             needs=("pandas", "pyarrow", "sklearn"), extra="ctr")
