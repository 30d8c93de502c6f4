"""Public API for GPU nodes; mirrors ``mlfabric node ...`` one to one."""

from mlfabric.scheduler.gpus import DetectedGpus, detect_gpus, parse_nvidia_smi
from mlfabric.scheduler.node_ops import add, ensure_detected, remove, show
from mlfabric.scheduler.node_ops import list_nodes as list
from mlfabric.scheduler.records import NodeInfo

__all__ = ["DetectedGpus", "NodeInfo", "add", "detect_gpus", "ensure_detected", "list",
           "parse_nvidia_smi", "remove", "show"]
