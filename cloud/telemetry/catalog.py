"""The analysers' metrics people see: a display name (zh-CN, English) and a unit per metric key.

Keys are those the edge maps put on the wire (edge/simulate, the Modbus and serial maps); a metric not listed
here keeps its key as its name, since that is all there is to say about it.
"""

from __future__ import annotations

from typing import NamedTuple


class MetricInfo(NamedTuple):
    """How a metric reads to people."""

    zh: str
    en: str
    unit: str = ""


METRICS: dict[str, MetricInfo] = {
    "reaction_disk_temp": MetricInfo("反应盘温度", "Reaction disk temperature", "°C"),
    "incubator_temp": MetricInfo("孵育器温度", "Incubator temperature", "°C"),
    "reagent_fridge_temp": MetricInfo("试剂冷藏温度", "Reagent fridge temperature", "°C"),
    "reaction_disk_setpoint": MetricInfo("反应盘温度设定值", "Reaction disk setpoint", "°C"),
    "wash_pressure": MetricInfo("清洗压力", "Wash pressure", "kPa"),
    "vacuum": MetricInfo("真空度", "Vacuum", "kPa"),
    "water_conductivity": MetricInfo("纯水电导率", "Water conductivity", "µS/cm"),
    "pressure_offset": MetricInfo("压力零点偏移", "Pressure offset", "Pa"),
    "lamp_hours": MetricInfo("光源灯使用时长", "Lamp hours", "h"),
    "lamp_intensity": MetricInfo("光源强度", "Lamp intensity", "%"),
    "reagent_r1_level": MetricInfo("R1 试剂余量", "Reagent R1 level", "%"),
    "reagent_r2_level": MetricInfo("R2 试剂余量", "Reagent R2 level", "%"),
    "cuvette_blank": MetricInfo("比色杯空白", "Cuvette blank", "mAbs"),
    "uptime": MetricInfo("运行时长", "Uptime", "s"),
    "sample_count": MetricInfo("样本数", "Samples"),
    "test_count": MetricInfo("测试数", "Tests"),
    "error_code": MetricInfo("报警代码", "Error code"),
    "alarm": MetricInfo("报警", "Alarm"),
    "running": MetricInfo("运行中", "Running"),
    "cover_closed": MetricInfo("仪器盖已关闭", "Cover closed"),
    "fridge_compressor_on": MetricInfo("冷藏压缩机运行", "Fridge compressor on"),
    "firmware": MetricInfo("固件版本", "Firmware"),
    "serial_number": MetricInfo("序列号", "Serial number"),
    "device_clock": MetricInfo("仪器时钟", "Device clock"),
}

SEVERITY_ZH = {"warning": "提示", "major": "严重", "critical": "紧急"}


def metric_name_zh(metric: str) -> str:
    """The metric's Chinese display name (its key when unknown)."""
    info = METRICS.get(metric)
    return info.zh if info else metric
