"""HTTP API: thin routers that validate, call one command or query, and return public models."""
