"""Everything that computes: models, hook points, SAEs, steering, the token loop. No Qt here."""
