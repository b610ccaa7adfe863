"""Maintenance profiles' learning and formulas (维保画像), pure: no database, no web.

score.py   the maintenance score (docs/maintenance-score.md): 0-100 from a device's last year of faults
risk.py    the probability of a fault in the next 30 days (risk ranking, preventive maintenance)
onsite.py  the basic/advanced predictor: will a new report need an engineer on site? (river, learned online)
"""
