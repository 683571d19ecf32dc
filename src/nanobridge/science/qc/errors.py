"""Errors of the QC science layer."""


class QCInputError(ValueError):
    """Bad QC input: names the file/field, the value and what is allowed."""
