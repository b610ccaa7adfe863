"""Monthly rollups of the ticket history, so the dashboards answer from thousands of rows instead of a million.

They are derived data: rebuilt per (hospital, month) partition from the ticket table by cloud/dashboards/rollups.py
and never edited by hand. Their columns are the sums of the per-ticket facts of cloud/dashboards/facts.py; a
dashboard number computed from a rollup is the same number computed from the raw tickets (tests compare both).

Each table holds several grains (the `grain` column, see rollups.GRAINS): 'fine' rows keep every dimension and
are read for a few hospitals at a time; the coarser grains leave some dimensions out (NULL) so that questions
about every hospital at once read a few thousand rows instead of a few hundred thousand. A model filter that
no coarse grain covers reads the fine rows of that model through the (grain, model, month) index (migration 0027).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UTCDateTime
from cloud.registry.models import Device
from cloud.tickets.models import PrecheckTask, Ticket

# The additive measures every rollup row carries (see facts.MEASURES for what each one counts).
MEASURE_COLUMNS = (
    "tickets", "reports", "faults", "repaired", "repair_s", "ftf_base", "ftf", "fr_met", "fr_late", "res_met",
    "res_late", "basic", "remote", "on_site", "predictive", "pred_confirmed", "pred_false", "rated", "rating_sum",
    "speed_n", "speed_sum", "attitude_n", "attitude_sum", "skill_n", "skill_sum",
)


class _Measures:
    tickets: Mapped[int] = mapped_column(Integer, default=0)
    reports: Mapped[int] = mapped_column(Integer, default=0)
    faults: Mapped[int] = mapped_column(Integer, default=0)
    repaired: Mapped[int] = mapped_column(Integer, default=0)
    repair_s: Mapped[int] = mapped_column(BigInteger, default=0)
    ftf_base: Mapped[int] = mapped_column(Integer, default=0)
    ftf: Mapped[int] = mapped_column(Integer, default=0)
    fr_met: Mapped[int] = mapped_column(Integer, default=0)
    fr_late: Mapped[int] = mapped_column(Integer, default=0)
    res_met: Mapped[int] = mapped_column(Integer, default=0)
    res_late: Mapped[int] = mapped_column(Integer, default=0)
    basic: Mapped[int] = mapped_column(Integer, default=0)
    remote: Mapped[int] = mapped_column(Integer, default=0)
    on_site: Mapped[int] = mapped_column(Integer, default=0)
    predictive: Mapped[int] = mapped_column(Integer, default=0)
    pred_confirmed: Mapped[int] = mapped_column(Integer, default=0)
    pred_false: Mapped[int] = mapped_column(Integer, default=0)
    rated: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    speed_n: Mapped[int] = mapped_column(Integer, default=0)
    speed_sum: Mapped[int] = mapped_column(Integer, default=0)
    attitude_n: Mapped[int] = mapped_column(Integer, default=0)
    attitude_sum: Mapped[int] = mapped_column(Integer, default=0)
    skill_n: Mapped[int] = mapped_column(Integer, default=0)
    skill_sum: Mapped[int] = mapped_column(Integer, default=0)


class _Dimensions:
    """The grain (which dimensions a row keeps; the others are NULL) and the dimensions of a ticket rollup row."""

    id: Mapped[int] = mapped_column(primary_key=True)
    grain: Mapped[str] = mapped_column(String(8))
    month: Mapped[date] = mapped_column(Date)  # the first day of the month
    hospital_id: Mapped[int | None] = mapped_column(Integer)
    department_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(100))
    age_band: Mapped[str | None] = mapped_column(String(10))
    origin: Mapped[str | None] = mapped_column(String(12))


class TicketRollup(_Dimensions, _Measures, Base):
    """Ticket facts summed per month (in the hospital's zone) and device dimensions; no device id, no engineer."""

    __tablename__ = "dash_rollup"
    __table_args__ = (Index("ix_dash_rollup_grain_hospital_id_month", "grain", "hospital_id", "month"),
                      Index("ix_dash_rollup_grain_month", "grain", "month"),
                      Index("ix_dash_rollup_grain_model_month", "grain", "model", "month"))



class FaultRollup(_Dimensions, Base):
    """Faults per fault category, with the tier that solved them, per month and device dimensions."""

    __tablename__ = "dash_fault_rollup"
    __table_args__ = (Index("ix_dash_fault_rollup_grain_hospital_id_month", "grain", "hospital_id", "month"),
                      Index("ix_dash_fault_rollup_grain_month", "grain", "month"),
                      Index("ix_dash_fault_rollup_grain_model_month", "grain", "model", "month"))

    fault_category: Mapped[str] = mapped_column(String(50))  # '' for faults not (yet) categorised
    faults: Mapped[int] = mapped_column(Integer, default=0)
    basic: Mapped[int] = mapped_column(Integer, default=0)
    remote: Mapped[int] = mapped_column(Integer, default=0)
    on_site: Mapped[int] = mapped_column(Integer, default=0)


class EngineerRollup(_Dimensions, _Measures, Base):
    """Ticket facts per month, hospital and assigned engineer (workload and ratings), with the device dimensions."""

    __tablename__ = "dash_engineer_rollup"
    __table_args__ = (Index("ix_dash_engineer_rollup_grain_hospital_id_month", "grain", "hospital_id", "month"),
                      Index("ix_dash_engineer_rollup_grain_month", "grain", "month"),
                      Index("ix_dash_engineer_rollup_grain_model_month", "grain", "model", "month"))

    engineer_id: Mapped[int] = mapped_column(Integer)


class DeviceRollup(_Dimensions, _Measures, Base):
    """Ticket facts per month and device (the device breakdown of a hospital), with the device dimensions.

    Only a 'fine' grain: it is read for a few hospitals at a time, and its rows are written in hospital order so a
    hospital's year lies on few pages (a large hospital: ~30,000 rows instead of 60,000 scattered tickets).
    """

    __tablename__ = "dash_device_rollup"
    __table_args__ = (Index("ix_dash_device_rollup_grain_hospital_id_month", "grain", "hospital_id", "month"),
                      # one page of a device breakdown (migration 0029)
                      Index("ix_dash_device_rollup_grain_device_id_month", "grain", "device_id", "month"))

    device_id: Mapped[int] = mapped_column(Integer)


class ExposureRollup(Base):
    """Device-months and service hours per whole past month and device dimensions (see exposure.py)."""

    __tablename__ = "dash_exposure"
    __table_args__ = (Index("ix_dash_exposure_grain_hospital_id_month", "grain", "hospital_id", "month"),
                      Index("ix_dash_exposure_grain_month", "grain", "month"),
                      Index("ix_dash_exposure_grain_model_month", "grain", "model", "month"))

    id: Mapped[int] = mapped_column(primary_key=True)
    grain: Mapped[str] = mapped_column(String(8))
    month: Mapped[date] = mapped_column(Date)
    hospital_id: Mapped[int | None] = mapped_column(Integer)
    department_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(100))
    age_band: Mapped[str | None] = mapped_column(String(10))
    device_months: Mapped[float] = mapped_column(Float, default=0.0)
    service_h: Mapped[float] = mapped_column(Float, default=0.0)


class DeviceDims(Base):
    """The device dimensions the rollups were built with, to tell a real move or edit from a score update."""

    __tablename__ = "dash_device_dims"

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hospital_id: Mapped[int] = mapped_column(Integer)
    department_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(100))
    install_date: Mapped[date | None] = mapped_column(Date)


class RollupState(Base):
    """One row: the latest change the rollups have folded in, and when they were last refreshed."""

    __tablename__ = "dash_rollup_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The exposure rollup holds the whole months [exposure_from, exposure_until) (in the default zone) and the
    # running month exposure_until as of exposure_current_at; other months are computed live from the devices.
    exposure_from: Mapped[date | None] = mapped_column(Date)
    exposure_until: Mapped[date | None] = mapped_column(Date)
    exposure_current_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Indexes the rollup refresh and the per-hospital raw queries need on tables other domains own; declared here so
# the tickets and registry models stay as their owners wrote them (migration 0023 creates them).
Index("ix_ticket_updated_at", Ticket.__table__.c.updated_at)
Index("ix_ticket_hospital_id_created_at", Ticket.__table__.c.hospital_id, Ticket.__table__.c.created_at)
Index("ix_precheck_task_updated_at", PrecheckTask.__table__.c.updated_at)
Index("ix_device_updated_at", Device.__table__.c.updated_at)
