"""medfix protocols."""
