"""medfix cloud."""
