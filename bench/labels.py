"""Label sheet speed: 1,000 labels to PDF on the A4 3x8 and the 50x30 mm thermal template, printed as JSON.

Every label has a fresh random code (so no QR is ever reused from a cache), a realistic long Chinese hospital
name, and one label in ten is a device group. `--api` also times the whole request, POST /api/v1/labels, on
a migrated SQLite database with that many devices: loading them, issuing their codes on first print (insert
plus audit row each), rendering; and a second request that finds every code already issued.

    .venv/bin/python bench/labels.py --labels 1000
    .venv/bin/python bench/labels.py --labels 1000 --api
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import timedelta
from importlib import metadata
from pathlib import Path

import reportlab

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.qr import labels, service  # noqa: E402
from cloud.qr.labels import Label  # noqa: E402

PUBLIC_URL = "https://medfix.example.cn"
HOSPITALS = ["上海交通大学医学院附属瑞金医院", "复旦大学附属中山医院", "中国人民解放军总医院第一医学中心"]
MODELS = [("Roche", "cobas c 702"), ("Sysmex", "XN-1000"), ("Abbott", "ARCHITECT i2000SR"), ("Mindray", "BC-6800")]


def sample_labels(count: int) -> list[Label]:
    """count labels with fresh codes; every tenth one is a group label."""
    out = []
    for i in range(count):
        url = service.url_for(service.new_code(), PUBLIC_URL)
        hospital = HOSPITALS[i % len(HOSPITALS)]
        if i % 10 == 9:
            out.append(Label(qr_content=url, title="生化免疫流水线", caption="组号", big=f"MG-{i:06d}",
                             lines=(f"设备组 · {2 + i % 5} 台设备", hospital, "检验科")))
        else:
            maker, model = MODELS[i % len(MODELS)]
            out.append(Label(qr_content=url, title=f"MF-{i:06d}", caption="S/N", big=f"{model[:2].upper()}{i:08d}",
                             lines=(f"{maker} {model}", hospital, "检验科")))
    return out


def time_render(count: int, template: str) -> dict[str, object]:
    """Render count fresh labels on template and time it."""
    batch = sample_labels(count)
    started = time.perf_counter()
    pdf = labels.render_pdf(batch, template)
    seconds = time.perf_counter() - started
    return {"template": template, "labels": count, "seconds": round(seconds, 3),
            "labels_per_s": round(count / seconds, 1), "pdf_bytes": len(pdf)}


def time_api(count: int) -> list[dict[str, object]]:
    """POST /api/v1/labels for count devices on a migrated SQLite database: first print, then a reprint."""
    from fastapi.testclient import TestClient

    from cloud.audit.service import Actor
    from cloud.auth.models import Role
    from cloud.auth.service import create_user, issue_token
    from cloud.config import Settings
    from cloud.db import make_engine, make_sessionmaker
    from cloud.main import create_app
    from cloud.migrate import upgrade
    from cloud.registry import service as registry
    from cloud.registry.schemas import DeviceIn, HospitalIn

    actor = Actor.system("bench")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        with make_sessionmaker(engine)() as session:
            hospital = registry.create_hospital(session, actor=actor, data=HospitalIn(name=HOSPITALS[0]))
            department = registry.create_department(session, hospital_id=hospital.id, name="检验科", actor=actor)
            ids = []
            for i in range(count):
                maker, model = MODELS[i % len(MODELS)]
                ids.append(registry.create_device(session, actor=actor, data=DeviceIn(
                    serial=f"SN{i:08d}", manufacturer=maker, model=model, category="chemistry",
                    hospital_id=hospital.id, department_id=department.id)).id)
            admin = create_user(session, username="bench-admin", password="bench-password-123", role=Role.admin,
                                actor=actor, full_name="bench")
            token = issue_token(session, user=admin, ttl=timedelta(hours=1))
            session.commit()
        engine.dispose()
        settings = Settings(database_url=url, data_dir=Path(folder) / "data", public_url=PUBLIC_URL,
                            _env_file=None)  # type: ignore[call-arg]
        results = []
        with TestClient(create_app(settings)) as client:
            for phase in ("first print (issues codes)", "reprint (codes exist)"):
                started = time.perf_counter()
                response = client.post("/api/v1/labels", json={"template": "a4-3x8", "devices": ids},
                                       headers={"Authorization": f"Bearer {token}"})
                seconds = time.perf_counter() - started
                assert response.status_code == 200, response.text
                results.append({"api": phase, "template": "a4-3x8", "labels": count, "seconds": round(seconds, 3),
                                "labels_per_s": round(count / seconds, 1)})
        return results


def main() -> None:
    """Run the benchmark and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--api", action="store_true", help="also time POST /api/v1/labels on SQLite")
    args = parser.parse_args()
    labels.render_pdf(sample_labels(3), "a4-3x8")  # warm-up: fonts, imports
    runs = [time_render(args.labels, template) for template in labels.TEMPLATES]
    if args.api:
        runs += time_api(args.labels)
    print(json.dumps({
        "benchmark": "labels",
        "target_seconds": 10,
        "runs": runs,
        "python": platform.python_version(),
        "reportlab": reportlab.Version,
        "qrcode": metadata.version("qrcode"),
    }, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
