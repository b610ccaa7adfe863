"""Maintenance profiles (维保画像): each device's profile and score, risk ranking, the on-site predictor."""
