"""SafeNet yearly forecast (Hu et al., Sci. Rep. 2025): catalogs, indicators, baselines, network.

Torch-free modules (``catalog``, ``indicators``, ``maps``, ``baselines``, ``etas``, ``runtime``) are what
central runs; ``net`` and ``train`` need the ``train`` extra.
"""
