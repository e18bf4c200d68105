"""What people see: projections of features (Fisher, UMAP, spectra), Plotly figures (views) and the one-file report."""
