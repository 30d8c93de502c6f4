"""Every runtime passes the same suite (``mlfabric.testing.runtimes``)."""

from mlfabric.testing.runtimes import RuntimeConformance


class TestSimRuntime(RuntimeConformance, runtime="sim"): ...


class TestLocalRuntime(RuntimeConformance, runtime="local"): ...
