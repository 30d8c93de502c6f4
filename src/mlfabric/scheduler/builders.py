"""Fluent builders for scheduler scenarios (tests, benchmarks, simulations).

``MakeProject("a").quota(4).obj()`` reads like the scenario it sets up; ``.add()`` and
``.submit()`` return the event that introduces the object.
"""

from __future__ import annotations

from dataclasses import replace

from mlfabric.scheduler.events import AddNode, AddProject, Submit
from mlfabric.scheduler.model import Job, Node, Project
from mlfabric.units import parse_duration, parse_size


class MakeNode:
    """Builds a ``Node`` (8 GPUs of 80 GiB in pool ``default`` unless told otherwise)."""

    def __init__(self, name: str) -> None:
        self._node = Node(name, gpus=8, gpu_memory=parse_size("80Gi"))

    def gpus(self, count: int) -> MakeNode:
        self._node = replace(self._node, gpus=count)
        return self

    def memory(self, size: str | int) -> MakeNode:
        self._node = replace(self._node, gpu_memory=parse_size(size))
        return self

    def pool(self, name: str) -> MakeNode:
        self._node = replace(self._node, pool=name)
        return self

    def obj(self) -> Node:
        return self._node

    def add(self) -> AddNode:
        return AddNode(self._node)


class MakeProject:
    """Builds a ``Project`` (quota 0, weight = quota, no limit, pool ``default``)."""

    def __init__(self, name: str) -> None:
        self._project = Project(name)

    def quota(self, gpus: float) -> MakeProject:
        self._project = replace(self._project, quota=gpus)
        return self

    def weight(self, weight: float) -> MakeProject:
        self._project = replace(self._project, weight=weight)
        return self

    def limit(self, gpus: float) -> MakeProject:
        self._project = replace(self._project, limit=gpus)
        return self

    def interactive_limit(self, duration: str | float) -> MakeProject:
        self._project = replace(self._project, interactive_time_limit=parse_duration(duration))
        return self

    def pool(self, name: str) -> MakeProject:
        self._project = replace(self._project, pool=name)
        return self

    def obj(self) -> Project:
        return self._project

    def add(self) -> AddProject:
        return AddProject(self._project)


class MakeJob:
    """Builds a ``Job`` (one whole GPU, training, one process, submitted at time 0)."""

    def __init__(self, name: str, project: str) -> None:
        self._job = Job(name, project)

    def gpus(self, gpus: float) -> MakeJob:
        self._job = replace(self._job, gpus=gpus)
        return self

    def memory(self, size: str | int) -> MakeJob:
        self._job = replace(self._job, gpu_memory=parse_size(size))
        return self

    def interactive(self, value: bool = True) -> MakeJob:
        self._job = replace(self._job, interactive=value)
        return self

    def preemptible(self, value: bool = True) -> MakeJob:
        self._job = replace(self._job, preemptible=value)
        return self

    def processes(self, count: int) -> MakeJob:
        self._job = replace(self._job, processes=count)
        return self

    def at(self, submit_time: float) -> MakeJob:
        self._job = replace(self._job, submit_time=submit_time)
        return self

    def obj(self) -> Job:
        return self._job

    def submit(self) -> Submit:
        return Submit(self._job)
