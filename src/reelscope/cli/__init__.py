"""The `reelscope` command."""
