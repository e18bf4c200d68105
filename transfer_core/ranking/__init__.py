"""Ranking: score every model on the dataset (pipeline), rank by each metric and by consensus (ranks), make the whole
run with its intervals and verdict (run), and write it (output) with terminal progress (progress)."""
