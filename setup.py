"""The one C extension (its metadata is in pyproject.toml): the per-file loop of link
clones. Optional: without a C compiler the install succeeds and the same loop runs in
Python (mlfabric.storage.fastfs), only slower."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("mlfabric.storage._fastfs", ["src/mlfabric/storage/_fastfs.c"],
                             extra_compile_args=["-O2", "-Wall"], optional=True)])
