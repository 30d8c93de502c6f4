"""Public API for GPU nodes; mirrors ``mlfabric node ...`` one to one."""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, base="mlfabric.scheduler", exports={
    "add": "node_ops", "list": "node_ops:list_nodes", "show": "node_ops",
    "remove": "node_ops", "ensure_detected": "node_ops", "sync": "node_ops",
    "detect_gpus": "gpus", "parse_nvidia_smi": "gpus", "DetectedGpus": "gpus",
    "NodeInfo": "records", "NodeSync": "records",
})
