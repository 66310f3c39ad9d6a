"""Changes stage (pure): normalising, noise, diffs, outcomes, removal, metadata, seed state, intervals."""
