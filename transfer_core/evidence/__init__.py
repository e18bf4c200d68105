"""Evidence about a ranking: rank intervals from resampled images (uncertainty), the plain-language verdict, SFDA's
ensemble selection, and checks against ground truth (validation, with weighted τ and stability in evaluation)."""
