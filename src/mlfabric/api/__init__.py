"""The REST front end: the operation table, its access rules, the FastAPI server and the
HTTP client the CLI uses in client mode (``MLFABRIC_SERVER``)."""
