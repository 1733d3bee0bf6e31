"""The one kind of error a caller's input causes: ``InputError`` (a ``ValueError``), whose message names
the file, entry, row or pair in the caller's own terms. Anything else that escapes is a bug."""


class InputError(ValueError):
    """The input is not what the evaluation takes (the message says what and where)."""
