"""medfix models."""
