"""Public API for scheduled jobs; mirrors ``mlfabric job ...`` and ``mlfabric scheduler ...``."""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, base="mlfabric.scheduler", exports={
    "submit": "job_ops", "list": "job_ops:list_jobs", "get": "job_ops",
    "delete": "job_ops:delete_jobs", "events": "job_ops", "logs": "job_ops",
    "log_path": "job_ops", "follow_logs": "job_ops", "exec_in": "job_ops",
    "exec_output": "job_ops", "step": "job_ops", "status": "status",
    "run_daemon": "loop",
    "CycleReport": "records", "ExecResult": "records", "JobInfo": "records",
    "SchedulerStatus": "records",
})
