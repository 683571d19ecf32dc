"""nanobridge: bench-to-clinic evidence for nanoparticle cancer imaging agents."""

__version__ = "0.1.0"
