"""Nameplate OCR: does a photographed nameplate find its device, and never another one? Prints JSON.

N generated devices get realistic serials (10 manufacturers' patterns, letters OCR confuses included) and,
for half of them, a system-number sticker (MF-000123). Each nameplate is rendered with one of 13 fonts at
30-44 px, placed on a device panel and "photographed" (bench/nameplates.py): rotation ±8°, perspective,
distance 0.55-1.1x, blur up to 1.3 px, sensor noise, a lighting gradient down to 55 %, JPEG quality 35-90.
Every image is matched by the identify service's own reader (cloud.identify.ocr.read_nameplate, the same call
POST /api/v1/identify/photo makes) against the whole fleet plus decoys: devices whose serial differs from a
real one in one character, so a sloppy match would pick a wrong device.

    .venv/bin/python bench/ocr.py --devices 200
    .venv/bin/python bench/ocr.py --devices 20 --save var/ocr-bench   # keep the images to look at
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import pytesseract
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.nameplates import Plate, make_plates, nameplate_photo  # noqa: E402
from cloud.identify.matching import Identifier  # noqa: E402
from cloud.identify.ocr import read_nameplate  # noqa: E402

DIGITS = "0123456789"


def decoy_serial(serial: str, rng: random.Random) -> str:
    """A serial one character away from serial (another device of the same maker, say)."""
    positions = [i for i, c in enumerate(serial) if c.isdigit()]
    i = rng.choice(positions)
    return serial[:i] + rng.choice([d for d in DIGITS if d != serial[i]]) + serial[i + 1:]


def fleet(plates: list[Plate], *, decoys: float, rng: random.Random) -> list[Identifier]:
    """Identifiers of the plates' devices (ids 0..N-1) and of decoy devices (ids from N)."""
    out = []
    for i, plate in enumerate(plates):
        out.append(Identifier(i, "serial", plate.serial))
        if plate.system_number:
            out.append(Identifier(i, "system_number", plate.system_number))
    taken = {p.serial for p in plates}
    for n, plate in enumerate(rng.sample(plates, int(len(plates) * decoys))):
        serial = decoy_serial(plate.serial, rng)
        if serial not in taken:
            taken.add(serial)
            out.append(Identifier(len(plates) + n, "serial", serial))
    return out


def percentile(values: list[float], share: float) -> float:
    """The share-quantile of values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main() -> None:
    """Render, read and match; print the rates and latencies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--decoys", type=float, default=0.3, help="share of devices given a one-digit twin")
    parser.add_argument("--easy", action="store_true", help="no perspective and less blur")
    parser.add_argument("--save", type=Path, help="write each image (and misses' OCR text) here")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    plates = make_plates(args.devices, seed=args.seed)
    identifiers = fleet(plates, decoys=args.decoys, rng=rng)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    found = wrong = 0
    latencies: list[float] = []
    passes: Counter[int] = Counter()
    by_kind: Counter[str] = Counter()
    misses: list[dict[str, object]] = []
    for i, plate in enumerate(plates):
        content = nameplate_photo(plate, seed=args.seed * 10_000 + i, hard=not args.easy)
        image = Image.open(io.BytesIO(content))
        started = time.perf_counter()
        reading = read_nameplate(image, identifiers)
        latencies.append((time.perf_counter() - started) * 1000)
        passes[reading.passes] += 1
        if args.save:
            (args.save / f"{i:04d}.jpg").write_bytes(content)
        if reading.matches and reading.matches[0].device_id == i:
            found += 1
            by_kind[reading.matches[0].kind] += 1
        else:
            if reading.matches:
                wrong += 1
            misses.append({"index": i, "serial": plate.serial, "system_number": plate.system_number,
                           "matched": reading.matches[0].device_id if reading.matches else None,
                           "text": reading.text[:300]})
    n = len(plates)
    print(json.dumps({
        "devices": n, "identifiers_in_fleet": len(identifiers),
        "decoy_devices": len({x.device_id for x in identifiers}) - n,
        "hard": not args.easy, "seed": args.seed,
        "found": found, "found_rate": round(found / n, 4),
        "wrong_device": wrong, "wrong_device_rate": round(wrong / n, 4),
        "found_by": dict(by_kind), "ocr_passes": {str(k): v for k, v in sorted(passes.items())},
        "latency_ms": {"p50": round(statistics.median(latencies)), "p95": round(percentile(latencies, 0.95)),
                       "max": round(max(latencies))},
        "misses": misses[:10],
        "tesseract": str(pytesseract.get_tesseract_version()), "python": platform.python_version(),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
    }, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
