"""The cache on disk: the feature store (store), what it holds under its root (layout), folder locks of live writers
(locks) and atomic writes (atomic)."""
