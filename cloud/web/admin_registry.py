"""The registry's admin pages in the order their paths must be matched (the import page before /devices/{id})."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.web import admin_alerts, admin_device_groups, admin_device_import, admin_devices, admin_wechat

ROUTERS: tuple[APIRouter, ...] = (admin_device_import.router, admin_devices.router, admin_device_groups.router,
                                  admin_alerts.router, admin_wechat.router)
