"""dasuite's Hydra configs, shipped as a package so that installed copies find them."""
