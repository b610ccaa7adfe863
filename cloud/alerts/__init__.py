"""Predictive maintenance: per-stream online scoring, alert policies, alerts that open predictive tickets."""
