"""Pure data shared by every layer: media facts, needs, results, jobs, errors, settings."""
