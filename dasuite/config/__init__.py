"""The configuration layer: what configs/ offers (:mod:`~dasuite.config.catalog`), the checks of
command-line keys and values before Hydra composes them (override_keys, options, plugins, sweeps,
suggestions) and the structured settings checked after (:mod:`~dasuite.config.schema`)."""
