"""Run the production anomaly detector over the NAB corpus and score it with medfix's NAB scorer.

Usage (from the repo root): ``python bench/nab.py --data ../shared/nab --out var/nab``
Prints one JSON object: the three profile scores (oracle-swept threshold), the score at the
production threshold, and detector throughput in points/s (single core, detector only).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.anomaly import make_detector  # noqa: E402
from models.anomaly import nab as nabscore  # noqa: E402


def run(
    data: Path, out: Path | None, name: str, params: dict[str, object], half: int | None = None
) -> dict[str, object]:
    """Detect over every file in streaming order, write score files, and score the corpus."""
    windows = nabscore.load_windows(data / "labels" / "combined_windows.json")
    profiles = nabscore.load_profiles(data / "config" / "profiles.json")
    files: list[nabscore.FileLabels] = []
    scores: dict[str, list[float]] = {}
    detect_seconds = 0.0
    points = 0
    for k, path in enumerate(sorted((data / "data").glob("*/*.csv"))):
        if half is not None and k % 2 != half:
            continue
        rel = f"{path.parent.name}/{path.name}"
        ts, values = nabscore.read_series(path)
        epoch = [nabscore.epoch_seconds(t) for t in ts]
        det = make_detector(name, **params)
        step = det.score_learn_one
        t0 = time.perf_counter()
        sc = [step(v, t) for v, t in zip(values, epoch, strict=True)]
        detect_seconds += time.perf_counter() - t0
        points += len(values)
        scores[rel] = sc
        files.append(nabscore.prepare_file(rel, ts, windows.get(rel, [])))
        if out is not None:
            target = out / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w") as fh:
                fh.write("timestamp,anomaly_score\n")
                fh.writelines(f"{t},{s:.6f}\n" for t, s in zip(ts, sc, strict=True))
    production = make_detector(name, **params).threshold
    result: dict[str, object] = {"detector": name, "params": params, "files": len(files), "points": points}
    for profile, cost in profiles.items():
        best = nabscore.sweep(files, scores, cost)
        fixed = nabscore.corpus_score_at(files, scores, cost, production)
        result[profile] = {
            "score": round(best.normalised, 2),
            "threshold": round(best.threshold, 4),
            "production_score": round(fixed.normalised, 2),
            "production_threshold": production,
        }
    result["points_per_s"] = round(points / detect_seconds)
    return result


def main() -> None:
    """Parse arguments, run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/nab"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--detector", default="production")
    parser.add_argument("--params", default="{}", help="JSON object of hyper-parameters (experiments only)")
    parser.add_argument("--half", type=int, choices=(0, 1), default=None,
                        help="score only files 0, 2, 4, ... (0) or 1, 3, 5, ... (1) of the sorted list")
    args = parser.parse_args()
    result = run(args.data, args.out, args.detector, json.loads(args.params), args.half)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
