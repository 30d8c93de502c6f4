"""The ``mlfabric`` command line: one module per noun, each command one library call."""
