"""Audio analyzers: they read the decoded mono soundtrack, never the video."""
