"""Maintenance profiles (维保画像): the fault taxonomy, each device's profile and score, risk ranking."""
