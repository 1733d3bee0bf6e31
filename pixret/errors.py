"""Errors a user can cause, each naming the file (and the entry or pair) in the user's own terms."""


from pixret.metric.core.errors import InputError

__all__ = ["InputError", "ReleaseError"]


class ReleaseError(InputError):
    """The upstream files (labels, ground truth, images) are missing something or hold something malformed."""
