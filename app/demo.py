"""The demo province: a directory, clients and (once signing exists) keys, for a fresh machine.

Codes follow the QCVN 102 pattern but are illustrative, as SPEC section 2 says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.clients.schemas import ClientCreate
from app.clients.service import create_client
from app.directory.models import Organization
from app.directory.schemas import OrganizationCreate
from app.directory.service import create_organization
from app.keys.custody import KeyCustody

PROVINCE = "000.00.00.H41"
PROVINCE_NAME = "UBND tỉnh Nghệ An"

DEPARTMENTS = [
    ("000.00.01.H41", "Văn phòng UBND tỉnh Nghệ An"),
    ("000.00.02.H41", "Sở Nội vụ tỉnh Nghệ An"),
    ("000.00.03.H41", "Sở Tài chính tỉnh Nghệ An"),
    ("000.00.04.H41", "Sở Kế hoạch và Đầu tư tỉnh Nghệ An"),
    ("000.00.05.H41", "Sở Tư pháp tỉnh Nghệ An"),
    ("000.00.06.H41", "Sở Công Thương tỉnh Nghệ An"),
    ("000.00.07.H41", "Sở Nông nghiệp và Phát triển nông thôn tỉnh Nghệ An"),
    ("000.00.08.H41", "Sở Giao thông vận tải tỉnh Nghệ An"),
    ("000.00.09.H41", "Sở Xây dựng tỉnh Nghệ An"),
    ("000.00.10.H41", "Sở Tài nguyên và Môi trường tỉnh Nghệ An"),
    ("000.00.11.H41", "Sở Thông tin và Truyền thông tỉnh Nghệ An"),
    ("000.00.12.H41", "Sở Lao động - Thương binh và Xã hội tỉnh Nghệ An"),
    ("000.00.13.H41", "Sở Giáo dục và Đào tạo tỉnh Nghệ An"),
    ("000.00.14.H41", "Sở Y tế tỉnh Nghệ An"),
]

DISTRICTS = [
    ("000.00.31.H41", "UBND thành phố Vinh", ["Phường Hưng Bình", "Phường Lê Lợi", "Xã Nghi Phú"]),
    ("000.00.32.H41", "UBND thị xã Cửa Lò", ["Phường Nghi Hải", "Phường Nghi Thủy"]),
    ("000.00.33.H41", "UBND huyện Diễn Châu", ["Xã Diễn Kỷ", "Xã Diễn Thành", "Xã Diễn Hải"]),
    ("000.00.34.H41", "UBND huyện Nghi Lộc", ["Xã Nghi Long", "Xã Nghi Xá"]),
    ("000.00.35.H41", "UBND huyện Quỳnh Lưu", ["Xã Quỳnh Bá", "Xã Quỳnh Thạch"]),
    ("000.00.36.H41", "UBND huyện Nam Đàn", ["Xã Kim Liên", "Xã Nam Giang", "Xã Vân Diên"]),
]

EXTERNAL = [
    ("000.00.00.G22", "Văn phòng Chính phủ"),
    ("000.00.00.G12", "Bộ Tài chính"),
    ("000.00.00.G09", "Bộ Thông tin và Truyền thông"),
    ("000.00.00.H42", "UBND tỉnh Hà Tĩnh"),
    ("000.00.00.H40", "UBND tỉnh Thanh Hóa"),
]


@dataclass
class DemoResult:
    created: bool
    api_keys: dict[str, str] = field(default_factory=dict)
    organizations: int = 0
    keys_issued: int = 0


def local_organizations() -> list[tuple[str, str, str | None]]:
    """(organ_id, name, parent) for every local organization, parents first."""
    out: list[tuple[str, str, str | None]] = [(PROVINCE, PROVINCE_NAME, None)]
    out += [(code, name, PROVINCE) for code, name in DEPARTMENTS]
    for code, name, communes in DISTRICTS:
        out.append((code, name, PROVINCE))
        district_no = code.split(".")[2]
        for i, commune in enumerate(communes, start=1):
            out.append((f"000.{i:02d}.{district_no}.H41", f"UBND {commune}", code))
    return out


def is_seeded(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(Organization)) or 0) > 0


def seed_directory(session: Session, *, actor: str) -> int:
    count = 0
    for code, name, parent in local_organizations():
        create_organization(
            session,
            OrganizationCreate(organ_id=code, name=name, parent_id=parent),
            actor=actor,
        )
        count += 1
    for code, name in EXTERNAL:
        create_organization(
            session, OrganizationCreate(organ_id=code, name=name, route="vpcp"), actor=actor
        )
        count += 1
    return count


def seed_clients(session: Session, *, actor: str) -> dict[str, str]:
    """One client per role, and one department system per local organization group."""
    keys: dict[str, str] = {}
    for role in ("admin", "auditor", "reporter"):
        _, keys[role] = create_client(
            session, ClientCreate(name=f"demo {role}", role=role), actor=actor
        )
    systems = {
        "system:province": [PROVINCE, DEPARTMENTS[0][0]],
        "system:so-noi-vu": [DEPARTMENTS[1][0]],
        "system:so-tai-chinh": [DEPARTMENTS[2][0]],
        "system:qlvb-so-nganh": [code for code, _ in DEPARTMENTS[3:]],
        "system:qlvb-huyen": [
            code for code, _name, parent in local_organizations() if parent and parent != PROVINCE
        ]
        + [code for code, _n, _c in DISTRICTS],
    }
    for name, organ_ids in systems.items():
        _, keys[name] = create_client(
            session, ClientCreate(name=name, role="system", organ_ids=organ_ids), actor=actor
        )
    return keys


def seed(
    session: Session,
    custody: KeyCustody,
    *,
    actor: str = "demo",
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Idempotent: a directory that already has organizations is left alone (but every
    local organization without a signing key gets one, so the hub can always sign)."""
    if is_seeded(session):
        custody.ensure_demo_keys(session, actor=actor, progress=progress)
        return DemoResult(created=False)
    count = seed_directory(session, actor=actor)
    keys = seed_clients(session, actor=actor)
    summary = custody.ensure_demo_keys(session, actor=actor, progress=progress)
    return DemoResult(
        created=True, api_keys=keys, organizations=count, keys_issued=len(summary.issued)
    )
