"""Config -> objects, and checkpoint -> objects: the one layer that builds dasuite's components from their
configs (Hydra's ``instantiate``), so that the data pairs, models, methods and the engine take plain Python
objects and never read a config. ``dasuite train``, ``eval``, ``predict``, ``export`` and :func:`dasuite.train`
build through it; :func:`dasuite.fit` takes the objects themselves.

- :mod:`~dasuite.assembly.pair`: a ``dataset`` node -> the :class:`~dasuite.data.pair.DomainPair`
- :mod:`~dasuite.assembly.method`: ``backbone`` and ``method`` nodes -> the :class:`~dasuite.methods.base.Method`
- :mod:`~dasuite.assembly.nested_methods`: a method built on another (``method.base=dann``)
- :mod:`~dasuite.assembly.trainer`: a ``trainer`` node -> the Trainer, its callback settings split off into the
  built-in callbacks
- :mod:`~dasuite.assembly.init_from`: another run's backbone and head as a new run's start (``init_from=``)
- :mod:`~dasuite.assembly.trained`: a run folder's checkpoint -> its trained model
- :mod:`~dasuite.assembly.logger`: a ``logger`` node -> the run's metrics logger
"""
