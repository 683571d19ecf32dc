"""Manufacturing QC: characterization analysis (DLS, TEM), specifications, SPC, comparability."""
