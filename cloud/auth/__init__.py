"""Accounts, roles, login tokens and lab-user verification."""
