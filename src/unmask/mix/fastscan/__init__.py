"""The mix's fast path: find and check every record of a huge LLaVA JSON array without parsing it (see scan)."""
