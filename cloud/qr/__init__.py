"""QR codes for devices and device groups, their images and printable label sheets."""
