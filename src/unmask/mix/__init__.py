"""The paper's method and its data: the refusal mix (method), refusal texts, curated (VLGuard) data, the bias analysis, and the mix's fast path for huge LLaVA JSON (fastscan)."""
