"""Extract stage (pure): decoding, site profiles, trafilatura, requisites, and the extraction pool."""
