"""Edge inference benchmarking with MLPerf LoadGen: generated ONNX models and image sets
on volumes, the offline, single-stream and multi-stream scenarios in process or on
``mlfabric inference`` servers, local vs network storage, one vs two servers, and an I/O
characterisation of a volume's storage.

Public API mirroring ``mlfabric edgebench ...``: ``make_models``, ``make_data``, ``run``,
``results``, ``compare_storage``, ``compare_servers``, ``start_servers``,
``stop_servers``, ``io``. Torch, onnxruntime and
LoadGen load on first use (the ``edgebench`` extra).
"""

from mlfabric.apps import App, Route
from mlfabric.exports import lazy_exports

APP = App(name="edgebench", help="Edge inference benchmarks with MLPerf LoadGen.",
          module=__name__, cli="mlfabric.apps.edgebench.cli:app", page="web",
          routes=(Route("results", "GET", "/edgebench/results", access="admin"),))

_EXPORTS = {
    "make_models": "prepare", "make_data": "prepare",
    "run": "harness", "results": "store:list_results",
    "compare_storage": "compare", "compare_servers": "compare",
    "io": "iobench:characterise", "start_servers": "servers", "stop_servers": "servers",
    "compare": "stats",
    "parse_summary": "summary", "read_logs": "summary", "Summary": "summary",
    "ModelInfo": "records", "DataSetInfo": "records", "RunResult": "records",
    "IoReport": "records", "IoRow": "records", "Comparison": "records",
}

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, _EXPORTS, needs=("torch", "numpy", "onnxruntime", "mlperf_loadgen"),
    extra="edgebench")
