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

PROVINCE = "000.00.00.H39"
PROVINCE_NAME = "UBND tỉnh Long An"

DEPARTMENTS = [
    ("000.00.01.H39", "Văn phòng UBND tỉnh Long An"),
    ("000.00.02.H39", "Sở Nội vụ tỉnh Long An"),
    ("000.00.03.H39", "Sở Tài chính tỉnh Long An"),
    ("000.00.04.H39", "Sở Kế hoạch và Đầu tư tỉnh Long An"),
    ("000.00.05.H39", "Sở Tư pháp tỉnh Long An"),
    ("000.00.06.H39", "Sở Công Thương tỉnh Long An"),
    ("000.00.07.H39", "Sở Nông nghiệp và Phát triển nông thôn tỉnh Long An"),
    ("000.00.08.H39", "Sở Giao thông vận tải tỉnh Long An"),
    ("000.00.09.H39", "Sở Xây dựng tỉnh Long An"),
    ("000.00.10.H39", "Sở Tài nguyên và Môi trường tỉnh Long An"),
    ("000.00.11.H39", "Sở Thông tin và Truyền thông tỉnh Long An"),
    ("000.00.12.H39", "Sở Lao động - Thương binh và Xã hội tỉnh Long An"),
    ("000.00.13.H39", "Sở Giáo dục và Đào tạo tỉnh Long An"),
    ("000.00.14.H39", "Sở Y tế tỉnh Long An"),
]

DISTRICTS = [
    ("000.00.31.H39", "UBND thành phố Tân An", ["Phường 1", "Phường 2", "Xã Bình Tâm"]),
    ("000.00.32.H39", "UBND thị xã Kiến Tường", ["Phường 3", "Xã Bình Hiệp"]),
    ("000.00.33.H39", "UBND huyện Bến Lức", ["Thị trấn Bến Lức", "Xã Thạnh Đức", "Xã Lương Hòa"]),
    ("000.00.34.H39", "UBND huyện Cần Giuộc", ["Thị trấn Cần Giuộc", "Xã Phước Lý"]),
    ("000.00.35.H39", "UBND huyện Đức Hòa", ["Thị trấn Hậu Nghĩa", "Xã Đức Hòa Hạ"]),
    (
        "000.00.36.H39",
        "UBND huyện Châu Thành",
        ["Thị trấn Tầm Vu", "Xã Hòa Phú", "Xã Thanh Vĩnh Đông"],
    ),
]

# Codes of the national list (level 1: ministries G.., provinces H.. in alphabetical order, so
# Long An is H39, Nam Định H40, Nghệ An H41, Ninh Bình H42, Quảng Ninh H49).
EXTERNAL = [
    ("000.00.00.G22", "Văn phòng Chính phủ"),
    ("000.00.00.G12", "Bộ Tài chính"),
    ("000.00.00.G09", "Bộ Thông tin và Truyền thông"),
    ("000.00.00.H42", "UBND tỉnh Ninh Bình"),
    ("000.00.00.H40", "UBND tỉnh Nam Định"),
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
            out.append((f"000.{i:02d}.{district_no}.H39", f"UBND {commune}", code))
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
