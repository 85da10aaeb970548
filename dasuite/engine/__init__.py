"""The training engine: one loop for every method, evaluation, run-folder files."""
