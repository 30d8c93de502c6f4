"""Every remote transport passes the same suite (``mlfabric.testing.remotes``): a local
folder, an in-memory lake, and S3 over HTTP (moto's server on loopback)."""

from __future__ import annotations

import itertools

import pytest

from mlfabric.testing.remotes import RemoteConformance
from mlfabric.transfer import Location, open_location
from tests.component.test_transfer_s3 import _aws_env, endpoint, s3_client

__all__ = ["_aws_env", "endpoint"]  # fixtures shared with the transfer tests
_buckets = itertools.count()


@pytest.fixture
def s3_lake_location(endpoint: str) -> Location:
    name = f"conf-{next(_buckets)}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return open_location(f"s3://{name}/lake", endpoint_url=endpoint, timeout=10)


class TestFolderLake(RemoteConformance, scheme="file"): ...


class TestMemoryLake(RemoteConformance, scheme="memory"): ...


class TestS3Lake(RemoteConformance, scheme="s3"): ...
