"""Visual analyzers: they read decoded frames with their presentation times."""
