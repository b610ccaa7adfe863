"""medfix edge."""
