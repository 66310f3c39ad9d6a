"""Inspection commands: `crawler diff` and `crawler raw`, read from the archive."""
