"""Public API for scheduled jobs; mirrors ``mlfabric job ...`` and ``mlfabric scheduler ...``."""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, base="mlfabric.scheduler", exports={
    "submit": "submit", "plan_submit": "submit", "list": "listing:list_jobs",
    "get": "listing", "events": "listing", "delete": "delete:delete_jobs", "logs": "logs",
    "log_path": "logs", "follow_logs": "logs", "exec_in": "exec", "exec_output": "exec",
    "step": "loop", "status": "status",
    "run_daemon": "loop",
    "CycleReport": "records", "ExecResult": "records", "JobInfo": "records",
    "SchedulerStatus": "records",
})
