"""medfix: keeps hospital lab analyzers running (edge agent + cloud service)."""

__version__ = "0.1.0"
