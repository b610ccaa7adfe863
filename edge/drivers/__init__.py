"""Thin asyncio drivers around protocols/: Modbus (pymodbus), ASTM serial, OPC UA."""
