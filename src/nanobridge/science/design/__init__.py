"""AI-assisted design: delivery models trained on the Nano-Tumor Database, the AI-PBPK link and
inverse design.

- :mod:`~nanobridge.science.design.data`: load and clean the packaged database (rules C1-C9),
  features, log10 targets, particle and study groups for cross-validation.
- :mod:`~nanobridge.science.design.delivery`: model families, repeated grouped CV, CV+ prediction
  intervals, applicability domain, training and the on-disk model cache, :func:`predict_delivery`.
- :mod:`~nanobridge.science.design.ai_pbpk`: predicted tumour parameters through the PBPK engine.
- :mod:`~nanobridge.science.design.inverse` and :mod:`~nanobridge.science.design.objectives`:
  multi-objective inverse design (seeded NSGA-II over size, charge, coating, targeting, core and
  label) with a Pareto front and uncertainty bands.

Submodules are imported explicitly (scikit-learn is loaded only when they are).
"""
