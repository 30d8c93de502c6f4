"""Public API for scheduled jobs; mirrors ``mlfabric job ...`` and ``mlfabric scheduler ...``."""

from mlfabric.scheduler.job_ops import delete_jobs as delete
from mlfabric.scheduler.job_ops import (
    events,
    exec_in,
    exec_output,
    follow_logs,
    get,
    log_path,
    logs,
    step,
    submit,
)
from mlfabric.scheduler.job_ops import list_jobs as list
from mlfabric.scheduler.loop import run_daemon
from mlfabric.scheduler.records import CycleReport, ExecResult, JobInfo

__all__ = ["CycleReport", "ExecResult", "JobInfo", "delete", "events", "exec_in", "exec_output",
           "follow_logs", "get",
           "list", "log_path", "logs", "run_daemon", "step", "submit"]
