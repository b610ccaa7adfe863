"""Finding a device from a photo (图片比对): nameplate OCR first, then perceptual-hash photo matching."""
