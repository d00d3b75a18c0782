"""reelscope: decode a short-form video once, run many analyzers on the shared frames and audio,
and return one honest, timestamped report."""

__version__ = "0.1.0"
