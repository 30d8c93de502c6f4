"""``mlfabric.serving.client(name)``: the official Triton client, pointed at a server."""

from __future__ import annotations

from typing import Any

from mlfabric.errors import InvalidInput

PROTOCOLS = ("http", "grpc")


def client(name: str, *, protocol: str = "http", concurrency: int = 1,
           home: str | None = None) -> Any:
    """A ``tritonclient.http.InferenceServerClient`` (``protocol="grpc"``: the gRPC one)
    for server ``name``; ``concurrency`` sizes the HTTP client's connection pool for
    ``async_infer``. Close it when done."""
    from mlfabric.serving.listing import show

    if protocol not in PROTOCOLS:
        raise InvalidInput(f"unknown protocol '{protocol}': expected http or grpc",
                           field="protocol", value=protocol)
    server = show(name, home=home)
    if protocol == "grpc":
        import tritonclient.grpc as grpcclient

        return grpcclient.InferenceServerClient(url=server.grpc_url)
    import tritonclient.http as httpclient

    return httpclient.InferenceServerClient(url=f"{server.client_host}:{server.http_port}",
                                            concurrency=concurrency)
