"""Analysis of a trained model, outside the training loop: t-SNE embeddings, the proxy A-distance
between domains and the plots a finished run leaves in ``plots/`` (:mod:`~dasuite.diagnostics.run`)."""
