"""Virtual populations, virtual trials, global sensitivity and personalization on the PBPK engine.

- :mod:`~nanobridge.science.population.models`: cited covariate distributions per species
  (``data/population/*.yaml``);
- :mod:`~nanobridge.science.population.covariates`: virtual subjects (covariates, inter-individual
  variability, parameter uncertainty as a separate outer level) and their PBPK parameters;
- :mod:`~nanobridge.science.population.trial`: one batched solve per chunk of subjects, reduced to
  delivery, contrast, CNR, doses and detectability per subject; streaming summaries;
- :mod:`~nanobridge.science.population.sensitivity`: Sobol indices of contrast (SALib);
- :mod:`~nanobridge.science.population.fitting`: fit an individual to measured TACs, predict its
  imaging window and a sister particle's delivery.

The job code that chunks, distributes (Dask) and stores (Zarr) is
:mod:`nanobridge.workflows.population`.
"""
