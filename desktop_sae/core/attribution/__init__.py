"""Attribution graphs: which features, prompt tokens and reconstruction errors moved one answer token's logit, and
how much (docs/ATTRIBUTION.md)."""
