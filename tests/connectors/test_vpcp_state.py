"""The axis's transport-free behaviour: organ patterns, fault draws, resets."""

from __future__ import annotations

import pytest

from app.connectors.vpcp.protocol import AxisError
from app.mock_axis.memory import InMemoryAxis
from app.mock_axis.state import FaultConfig, FaultInjector, SystemConfig, check_systems

PROVINCE_HUB = SystemConfig(
    systemid="hub", secret="s-hub", organ_ids=("000.00.00.H39", "*.H39"), name="Long An"
)
GOVERNMENT = SystemConfig(systemid="vpcp", secret="s-vpcp", organ_ids=("000.00.00.G22",))


def test_pattern_serves_every_unit_of_the_province() -> None:
    axis = InMemoryAxis([PROVINCE_HUB, GOVERNMENT])
    hub, vpcp = axis.connector("hub"), axis.connector("vpcp")

    commune = "000.01.31.H39"
    doc_id = vpcp.send_edoc(b"<x/>", from_organ="000.00.00.G22", to=[commune], message_type="edoc")
    assert [i.doc_id for i in hub.get_received_list("edoc")] == [doc_id]

    # The hub may send on behalf of any unit its pattern covers, and of no other.
    hub.send_edoc(b"<y/>", from_organ=commune, to=["000.00.00.G22"], message_type="status")
    with pytest.raises(AxisError) as caught:
        hub.send_edoc(
            b"<y/>", from_organ="000.00.00.H42", to=["000.00.00.G22"], message_type="edoc"
        )
    assert caught.value.error_code == "403"


@pytest.mark.parametrize("code", ["000.00.00.H42", "H39", "000.00.00.H390"])
def test_pattern_does_not_match_other_codes(code: str) -> None:
    axis = InMemoryAxis([PROVINCE_HUB, GOVERNMENT])
    with pytest.raises(AxisError) as caught:
        axis.connector("vpcp").send_edoc(
            b"<x/>", from_organ="000.00.00.G22", to=[code], message_type="edoc"
        )
    assert caught.value.error_code == "422"


def test_patterns_are_not_listed_as_agencies() -> None:
    agencies = InMemoryAxis([PROVINCE_HUB, GOVERNMENT]).connector("hub").get_agencies()
    assert [a.code for a in agencies] == ["000.00.00.H39", "000.00.00.G22"]


@pytest.mark.parametrize("organ", ["*", "*.", "000.*.H39", "*.*.H39", " "])
def test_bad_organ_entries_are_refused(organ: str) -> None:
    with pytest.raises(ValueError):
        check_systems([SystemConfig(systemid="x", secret="s", organ_ids=(organ,))])


def draws(config: FaultConfig, n: int = 50) -> list[tuple[bool, str | None, bool]]:
    injector = FaultInjector()
    injector.configure(config)
    return [(d.reset, d.error, d.lose_after_accept) for d in (injector.draw() for _ in range(n))]


def test_fault_draws_are_reproducible_by_seed() -> None:
    config = FaultConfig(error_rate=0.3, reset_rate=0.2, lose_after_accept_rate=0.3, seed=42)
    first = draws(config)
    assert first == draws(config)
    assert first != draws(config.model_copy(update={"seed": 43}))
    kinds = {("reset" if r else e or ("lose" if lose else "ok")) for r, e, lose in first}
    assert kinds == {"reset", "http_503", "fail_answer", "lose", "ok"}


def test_zero_rates_never_fault_and_one_always_does() -> None:
    assert set(draws(FaultConfig(seed=1))) == {(False, None, False)}
    assert {r for r, _, _ in draws(FaultConfig(reset_rate=1, seed=1))} == {True}
    assert all(e is not None for _, e, _ in draws(FaultConfig(error_rate=1, seed=1)))


def test_latency_is_carried_on_every_decision() -> None:
    injector = FaultInjector()
    injector.configure(FaultConfig(latency_ms=250, error_rate=0.5, seed=7))
    assert {injector.draw().latency_ms for _ in range(20)} == {250}
    injector.clear()
    assert injector.draw().latency_ms == 0


def test_in_memory_reset_forgets_messages_and_faults() -> None:
    axis = InMemoryAxis([PROVINCE_HUB, GOVERNMENT])
    hub = axis.connector("hub")
    hub.send_edoc(b"<x/>", from_organ="000.00.00.H39", to=["000.00.00.G22"], message_type="edoc")
    axis.set_faults(FaultConfig(error_rate=1))
    axis.reset()
    assert axis.messages() == []
    assert axis.connector("vpcp").get_received_list("edoc") == []


def test_unknown_system_connector_is_refused() -> None:
    axis = InMemoryAxis([PROVINCE_HUB, GOVERNMENT])
    with pytest.raises(AxisError) as caught:
        axis.connector("nobody").get_agencies()
    assert (caught.value.retryable, caught.value.error_code) == (False, "401")


def test_operator_secret_replaces_the_files_placeholder() -> None:
    """docker-compose passes the hub's secret to the mock (`mock-vpcp --secret lienthong=…`)."""
    from app.mock_axis.server import with_secrets
    from app.mock_axis.state import load_systems
    from tests.conftest import REPO

    systems = load_systems(REPO / "deploy" / "vpcp-systems.json")
    replaced = {s.systemid: s.secret for s in with_secrets(systems, {"lienthong": "op-chosen"})}
    assert replaced["lienthong"] == "op-chosen"
    assert replaced["vpcp"] == next(s.secret for s in systems if s.systemid == "vpcp")
    with pytest.raises(ValueError, match="nobody"):
        with_secrets(systems, {"nobody": "x"})
