"""The node's actuator commands without a broker: signature, expiry, replay (also across a restart), the timer that
ends a siren, test mode kept off the public output, and the three actuators (modbus_coil against a real pymodbus
server on loopback; gpio_relay and audio_player against temporary files and a harmless command)."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from pymodbus.client import AsyncModbusTcpClient

from edge.actuators import ACTUATORS, ActuatorError, build_actuator
from edge.actuators.service import ActuationService
from tests.edge.test_modbus_tcp import modbus_server
from wire.actuate import ActuateAck, Outcome, RefusalCode, canonical_bytes, read_key, sign, signature_ok
from wire.nodeconfig import ACTUATOR_CONFIGS, ActuationSettings, NodeConfig

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NODE = "node-a"


def fields(command_id: str = "c1", **over: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    base = {
        "node_id": NODE,
        "command_id": command_id,
        "actuator": "siren1",
        "action": "siren_on",
        "duration_s": 0.2,
        "issued": now,
        "expires": now + timedelta(seconds=60),
    }
    return {**base, **over}


def signed(key: bytes = KEY, **over: Any) -> bytes:
    return sign(key, fields(**over)).model_dump_json().encode()


def gpio_settings(tmp: Path, **extra: Any) -> ActuationSettings:
    key_file = tmp / "actuation.key"
    key_file.write_text(KEY.hex() + "\n")
    return ActuationSettings.model_validate(
        {
            "key_file": str(key_file),
            "actuators": [
                {"id": "siren1", "type": "gpio_relay", "path": str(tmp / "siren"), "test_path": str(tmp / "lamp")},
                *extra.get("more", []),
            ],
        }
    )


@asynccontextmanager
async def service(tmp: Path, settings: ActuationSettings | None = None) -> AsyncIterator[ActuationService]:
    svc = ActuationService(NODE, settings or gpio_settings(tmp), tmp / "state.db")
    await svc.start()
    try:
        yield svc
    finally:
        await svc.close()


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), 30))


# -- the contract ---------------------------------------------------------------------------------------------
def test_signature_covers_every_field_and_not_the_spelling_of_times():
    cmd = sign(KEY, fields())
    assert signature_ok(KEY, cmd)
    assert not signature_ok(OTHER_KEY, cmd)
    assert not signature_ok(KEY, cmd.model_copy(update={"duration_s": 600.0}))
    assert not signature_ok(KEY, cmd.model_copy(update={"node_id": "node-b"}))
    # The same instant written with another offset is the same signed text.
    local = cmd.model_copy(update={"issued": cmd.issued.astimezone(datetime.now().astimezone().tzinfo)})
    assert canonical_bytes(local) == canonical_bytes(cmd)


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"duration_s": None}, "needs duration_s"),
        ({"action": "play", "duration_s": None}, "file is given with play"),
        ({"action": "play", "duration_s": None, "file": "../etc/passwd"}, "file"),
        ({"action": "test", "duration_s": 31}, "at most 30"),
        ({"expires": datetime.now(UTC) + timedelta(hours=2)}, "at most 1:00:00"),
        ({"duration_s": 3601}, "less than or equal to 3600"),
    ],
)
def test_commands_that_cannot_be_meant_are_refused_by_the_model(over, why):
    with pytest.raises(ValidationError, match=why):
        sign(KEY, fields(**over))


def test_key_files_hold_hex_of_at_least_16_bytes():
    assert read_key(" " + KEY.hex() + "\n") == KEY
    with pytest.raises(ValueError, match="hex"):
        read_key("not hex")
    with pytest.raises(ValueError, match="at least 16"):
        read_key("00ff")


# -- the service ----------------------------------------------------------------------------------------------
def test_siren_on_turns_itself_off_after_its_duration(tmp_path):
    async def scenario() -> tuple[ActuateAck, str, str]:
        async with service(tmp_path) as svc:
            ack = await svc.handle(signed(duration_s=0.3))
            during = (tmp_path / "siren").read_text()
            timer = svc.timer("siren1")
            assert timer is not None
            await timer  # the node's own timer: no hub, no link involved
            return ack, during, (tmp_path / "siren").read_text()

    ack, during, after = run(scenario)
    assert ack.outcome is Outcome.EXECUTED and ack.command_id == "c1" and ack.until is not None
    assert ack.received <= ack.done <= ack.until  # type: ignore[operator]
    assert (during, after) == ("1", "0")


def test_test_mode_drives_only_the_test_output(tmp_path):
    async def scenario() -> tuple[ActuateAck, str]:
        async with service(tmp_path) as svc:
            ack = await svc.handle(signed(action="test", duration_s=0.2))
            lamp = (tmp_path / "lamp").read_text()
            timer = svc.timer("siren1", "test")
            assert timer is not None
            await timer
            return ack, lamp

    ack, lamp = run(scenario)
    assert ack.outcome is Outcome.EXECUTED and lamp == "1"
    assert (tmp_path / "lamp").read_text() == "0"
    assert not (tmp_path / "siren").exists(), "a test touched the public siren"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (lambda: signed(OTHER_KEY), RefusalCode.BAD_SIGNATURE),
        (lambda: signed().replace(b'"duration_s":0.2', b'"duration_s":600.0'), RefusalCode.BAD_SIGNATURE),
        (lambda: signed().replace(b',"sig":', b',"nosig":'), RefusalCode.MALFORMED),
        (
            lambda: signed(
                issued=datetime.now(UTC) - timedelta(seconds=120), expires=datetime.now(UTC) - timedelta(seconds=60)
            ),
            RefusalCode.EXPIRED,
        ),
        (
            lambda: signed(
                issued=datetime.now(UTC) + timedelta(minutes=10), expires=datetime.now(UTC) + timedelta(minutes=11)
            ),
            RefusalCode.NOT_YET_VALID,
        ),
        (lambda: signed(node_id="node-b"), RefusalCode.WRONG_NODE),
        (lambda: signed(actuator="horn9"), RefusalCode.UNKNOWN_ACTUATOR),
        (lambda: b"not json", RefusalCode.MALFORMED),
    ],
    ids=["wrong_key", "tampered", "unsigned", "expired", "from_the_future", "other_node", "unknown_actuator", "junk"],
)
def test_refused_commands_never_touch_an_output(tmp_path, payload, code):
    async def scenario() -> ActuateAck:
        async with service(tmp_path) as svc:
            return await svc.handle(payload())

    ack = run(scenario)
    assert (ack.outcome, ack.code) == (Outcome.REFUSED, code), ack.reason
    assert ack.reason
    assert not (tmp_path / "siren").exists() and not (tmp_path / "lamp").exists()


def test_a_replayed_id_runs_once_also_after_a_restart(tmp_path):
    first = signed(command_id="once", duration_s=30)
    again = signed(command_id="once", duration_s=30)  # re-signed by the hub (a retry): still the same id

    async def scenario() -> list[ActuateAck]:
        acks = []
        async with service(tmp_path) as svc:
            acks.append(await svc.handle(first))
            (tmp_path / "siren").write_text("untouched")
            acks.append(await svc.handle(first))
        async with service(tmp_path) as svc:
            (tmp_path / "siren").write_text("untouched")
            acks.append(await svc.handle(again))
        return acks

    acks = run(scenario)
    assert acks[0].outcome is Outcome.EXECUTED
    for ack in acks[1:]:
        assert (ack.outcome, ack.code, ack.first_outcome) == (Outcome.REFUSED, RefusalCode.REPLAYED, Outcome.EXECUTED)
    assert (tmp_path / "siren").read_text() == "untouched"


def test_a_restart_switches_off_a_siren_whose_time_has_passed(tmp_path):
    clock = [datetime.now(UTC)]

    async def scenario() -> None:
        svc = ActuationService(NODE, gpio_settings(tmp_path), tmp_path / "state.db", clock=lambda: clock[0])
        await svc.start()
        await svc.handle(signed(duration_s=60))
        assert (tmp_path / "siren").read_text() == "1"
        # A crash: the process is gone without close(); its timer with it.
        timer = svc.timer("siren1")
        assert timer is not None
        timer.cancel()
        assert svc.store is not None
        svc.store.close()
        clock[0] += timedelta(seconds=61)
        again = ActuationService(NODE, gpio_settings(tmp_path), tmp_path / "state.db", clock=lambda: clock[0])
        await again.start()
        restored = again.timer("siren1")
        assert restored is not None
        await restored
        await again.close()

    run(scenario)
    assert (tmp_path / "siren").read_text() == "0"


def test_siren_off_cancels_the_timer_and_switches_off(tmp_path):
    async def scenario() -> list[ActuateAck]:
        async with service(tmp_path) as svc:
            on = await svc.handle(signed(command_id="on", duration_s=60))
            off = await svc.handle(signed(command_id="off", action="siren_off", duration_s=None))
            assert svc.timer("siren1") is None
            return [on, off]

    assert [a.outcome for a in run(scenario)] == [Outcome.EXECUTED, Outcome.EXECUTED]
    assert (tmp_path / "siren").read_text() == "0"


def test_a_node_without_its_key_refuses_everything(tmp_path):
    settings = gpio_settings(tmp_path)
    settings.key_file.unlink()

    async def scenario() -> ActuateAck:
        async with service(tmp_path, settings) as svc:
            return await svc.handle(signed())

    ack = run(scenario)
    assert ack.code is RefusalCode.NO_KEY and "actuation.key" in ack.reason


# -- the actuators --------------------------------------------------------------------------------------------
def test_gpio_relay_active_low_inverts_levels(tmp_path):
    relay = build_actuator(
        ActuationSettings.model_validate(
            {
                "key_file": "k",
                "actuators": [{"id": "r", "type": "gpio_relay", "path": str(tmp_path / "v"), "active_low": True}],
            }
        ).actuators[0]
    )

    async def scenario() -> list[str]:
        levels = []
        for on in (True, False):
            await relay.siren(on)
            levels.append((tmp_path / "v").read_text())
        return levels

    assert run(scenario) == ["0", "1"]


def audio_settings(tmp: Path, command: list[str]) -> ActuationSettings:
    (tmp / "audio").mkdir()
    (tmp / "audio" / "flood-vi.wav").write_bytes(b"RIFF....WAVE")
    (tmp / "audio" / "tone.wav").write_bytes(b"quiet")
    (tmp / "secret").write_text("outside")
    (tmp / "audio" / "escape.wav").symlink_to(tmp / "secret")
    key_file = tmp / "actuation.key"
    key_file.write_text(KEY.hex())
    return ActuationSettings.model_validate(
        {
            "key_file": str(key_file),
            "actuators": [
                {
                    "id": "siren1",
                    "type": "audio_player",
                    "directory": str(tmp / "audio"),
                    "command": command,
                    "test_file": "tone.wav",
                }
            ],
        }
    )


# A harmless player: copies the file it is given to "played" (what a loudspeaker would have sounded).
def copier(tmp: Path) -> list[str]:
    return [sys.executable, "-c", f"import shutil, sys; shutil.copy(sys.argv[1], {str(tmp / 'played')!r})", "{file}"]


def test_audio_player_plays_a_stored_file_by_name(tmp_path):
    settings = audio_settings(tmp_path, copier(tmp_path))

    async def scenario() -> ActuateAck:
        async with service(tmp_path, settings) as svc:
            return await svc.handle(signed(action="play", duration_s=None, file="flood-vi.wav"))

    ack = run(scenario)
    assert ack.outcome is Outcome.EXECUTED, ack.reason
    assert (tmp_path / "played").read_bytes() == b"RIFF....WAVE"


@pytest.mark.parametrize(("name", "why"), [("escape.wav", "not a file in"), ("missing.wav", "no audio file")])
def test_audio_names_never_leave_the_audio_folder(tmp_path, name, why):
    settings = audio_settings(tmp_path, copier(tmp_path))

    async def scenario() -> ActuateAck:
        async with service(tmp_path, settings) as svc:
            return await svc.handle(signed(action="play", duration_s=None, file=name))

    ack = run(scenario)
    assert ack.outcome is Outcome.FAILED and why in ack.reason
    assert not (tmp_path / "played").exists()
    with pytest.raises(ActuatorError, match="not a file in"):
        build_actuator(settings.actuators[0]).audio_path("../secret")


def test_audio_player_failure_is_reported_with_the_players_words(tmp_path):
    settings = audio_settings(tmp_path, [sys.executable, "-c", "import sys; sys.exit('no sound card')", "{file}"])

    async def scenario() -> ActuateAck:
        async with service(tmp_path, settings) as svc:
            return await svc.handle(signed(action="play", duration_s=None, file="flood-vi.wav"))

    ack = run(scenario)
    assert ack.outcome is Outcome.FAILED and "no sound card" in ack.reason


def test_audio_player_test_plays_the_test_tone_and_a_siren_needs_a_siren_file(tmp_path):
    settings = audio_settings(tmp_path, copier(tmp_path))

    async def scenario() -> list[ActuateAck]:
        async with service(tmp_path, settings) as svc:
            return [
                await svc.handle(signed(command_id="t", action="test", duration_s=1)),
                await svc.handle(signed(command_id="s", duration_s=5)),
            ]

    test, siren = run(scenario)
    assert test.outcome is Outcome.EXECUTED and (tmp_path / "played").read_bytes() == b"quiet"
    assert (siren.outcome, siren.code) == (Outcome.REFUSED, RefusalCode.UNSUPPORTED)


async def coils(port: int) -> list[bool]:
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    try:
        return list((await client.read_coils(0, count=4)).bits[:4])
    finally:
        client.close()


def test_modbus_coil_writes_the_siren_coil_and_tests_on_the_test_coil(tmp_path):
    async def scenario() -> list[list[bool]]:
        async with modbus_server() as port:
            key_file = tmp_path / "k"
            key_file.write_text(KEY.hex())
            settings = ActuationSettings.model_validate(
                {
                    "key_file": str(key_file),
                    "actuators": [
                        {
                            "id": "siren1",
                            "type": "modbus_coil",
                            "host": "127.0.0.1",
                            "port": port,
                            "coil": 1,
                            "test_coil": 2,
                        }
                    ],
                }
            )
            seen = []
            async with service(tmp_path, settings) as svc:
                assert (
                    await svc.handle(signed(command_id="t", action="test", duration_s=5))
                ).outcome is Outcome.EXECUTED
                seen.append(await coils(port))
                assert (await svc.handle(signed(command_id="on", duration_s=0.2))).outcome is Outcome.EXECUTED
                seen.append(await coils(port))
                timer = svc.timer("siren1")
                assert timer is not None
                await timer
                seen.append(await coils(port))
            seen.append(await coils(port))  # close() switched the test output off
            return seen

    test, on, off, closed = run(scenario)
    assert test == [False, False, True, False], "a test wrote the siren coil"
    assert on == [False, True, True, False]
    assert off == [False, False, True, False]
    assert closed == [False, False, False, False]


def test_modbus_coil_unreachable_fails_with_the_reason(tmp_path):
    from tests.edge.test_modbus_tcp import free_port

    key_file = tmp_path / "k"
    key_file.write_text(KEY.hex())
    settings = ActuationSettings.model_validate(
        {
            "key_file": str(key_file),
            "actuators": [
                {
                    "id": "siren1",
                    "type": "modbus_coil",
                    "host": "127.0.0.1",
                    "port": free_port(),
                    "coil": 0,
                    "timeout_s": 1,
                }
            ],
        }
    )

    async def scenario() -> ActuateAck:
        async with service(tmp_path, settings) as svc:
            return await svc.handle(signed())

    ack = run(scenario)
    assert ack.outcome is Outcome.FAILED and "cannot connect" in ack.reason


def test_node_config_takes_an_actuation_section(tmp_path):
    cfg = NodeConfig.model_validate(
        {"node_id": NODE, "data_dir": str(tmp_path), "actuation": gpio_settings(tmp_path).model_dump(mode="json")}
    )
    assert cfg.actuation_state_path == tmp_path / "actuation.db"
    with pytest.raises(ValidationError, match="must differ from coil"):
        ActuationSettings.model_validate(
            {"key_file": "k", "actuators": [{"id": "s", "type": "modbus_coil", "host": "h", "coil": 3, "test_coil": 3}]}
        )
    with pytest.raises(ValidationError, match="appears twice"):
        ActuationSettings.model_validate(
            {"key_file": "k", "actuators": [{"id": "s", "type": "gpio_relay", "path": "/a"}] * 2}
        )


DOCS = Path(__file__).resolve().parents[2] / "docs" / "warnings-sirens.md"


def test_the_docs_node_config_samples_validate():
    blocks = [yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```", DOCS.read_text(), re.S | re.M)]
    nodes = [NodeConfig.model_validate(b) for b in blocks if isinstance(b, dict) and "node_id" in b]
    kinds = {a.type for n in nodes if n.actuation for a in n.actuation.actuators}
    assert kinds == set(ACTUATOR_CONFIGS) == {"modbus_coil", "gpio_relay", "audio_player"}


def test_every_actuator_config_in_the_contract_has_exactly_one_actuator_and_vice_versa():
    registered = {key: ACTUATORS.config(key) for key in ACTUATORS.names()}
    assert registered == ACTUATOR_CONFIGS


def test_a_chatty_player_is_not_stalled_by_its_own_stderr(tmp_path):
    # mpv and friends write progress to stderr: unread, a full pipe would stop the player mid-announcement.
    noisy = (
        f"import shutil, sys; sys.stderr.write('x' * 200_000); shutil.copy(sys.argv[1], {str(tmp_path / 'played')!r})"
    )
    settings = audio_settings(tmp_path, [sys.executable, "-c", noisy, "{file}"])

    async def scenario() -> ActuateAck:
        async with service(tmp_path, settings) as svc:
            return await svc.handle(signed(action="play", duration_s=None, file="flood-vi.wav"))

    ack = run(scenario)
    assert ack.outcome is Outcome.EXECUTED
    assert (tmp_path / "played").read_bytes() == b"RIFF....WAVE"
