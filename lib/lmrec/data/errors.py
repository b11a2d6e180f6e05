"""Errors raised on bad input files."""


class DatasetFormatError(ValueError):
    """A data file is missing or malformed. The message names the file, the field and the fix."""
