"""Users, API tokens and what each may do: the access policy of the platform server."""
