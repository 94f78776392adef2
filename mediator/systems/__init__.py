"""One connector per external product, run as a system actor."""

__all__: list[str] = []
