"""The HTTP API: one FastAPI app over the engine and store."""
