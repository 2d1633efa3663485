"""The backup file on its own (no database): members come back as written, plain or
sealed; a changed bit, a cut-off end, a wrong passphrase, chunks moved about and a
checksum recomputed over a forged body are all refused; the rotation keeps what it
promises; the staff notice says what the status means.

scrypt runs with a small cost here (the file records its cost, and reading uses the
recorded one); chunks are 4 KiB, so a few KiB make several.
"""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oflocal.backup import archive, rotation, status
from oflocal.backup.installation import env_file, settings_to_keep
from oflocal.errors import Refusal
from oflocal.settings import Backup, Settings

PASSPHRASE = "correct horse battery staple"
NAMES = frozenset({"manifest.json", "database.sqlite3", "secret_key"})


@pytest.fixture(autouse=True)
def _small_costs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "SCRYPT_N", 2**12)
    monkeypatch.setattr(archive, "CHUNK", 4096)


def _write(path: Path, passphrase: str | None, payload: bytes) -> None:
    header = archive.Header(created_at="2026-11-28T01:00:00+00:00", installation="ab12cd34",
                            database="sqlite", oflocal_version="0.1.0",
                            encryption=archive.new_encryption() if passphrase else None)
    with path.open("wb") as out:
        archive.write_archive(out, header, [
            archive.Member("manifest.json", data=b'{"format": "x"}'),
            archive.Member("database.sqlite3", data=payload),
            archive.Member("secret_key", data=b"s3cret"),
        ], passphrase)


def _read(path: Path, passphrase: str | None, tmp: Path) -> dict[str, bytes]:
    archive.verify_checksum(path)
    out = tmp / f"out-{os.urandom(3).hex()}"
    out.mkdir()
    return {name: file.read_bytes()
            for name, file in archive.extract(path, passphrase, out, NAMES).items()}


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
@pytest.mark.parametrize("size", [0, 4096 - 600, 5 * 4096 + 7])
def test_members_come_back_as_written(tmp_path: Path, passphrase: str | None, size: int) -> None:
    payload = os.urandom(size)
    path = tmp_path / "b.ofbak"
    _write(path, passphrase, payload)
    header = archive.read_header(path)[0]
    assert header.encrypted == (passphrase is not None)
    assert _read(path, passphrase, tmp_path) == {
        "manifest.json": b'{"format": "x"}', "database.sqlite3": payload,
        "secret_key": b"s3cret"}
    if passphrase:  # sealed: neither the data nor the secret is in the file in clear
        raw = path.read_bytes()
        assert b"s3cret" not in raw and (not payload or payload[:64] not in raw)


def test_any_changed_bit_or_cut_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "b.ofbak"
    _write(path, None, os.urandom(20_000))
    data = path.read_bytes()
    for position in (len(archive.MAGIC) + 10, len(data) // 2, len(data) - 40, len(data) - 1):
        changed = bytearray(data)
        changed[position] ^= 0x04
        (tmp_path / "x.ofbak").write_bytes(bytes(changed))
        with pytest.raises(Refusal) as refused:
            archive.verify_checksum(tmp_path / "x.ofbak")
        assert refused.value.code in ("backup.checksum_mismatch", "backup.not_a_backup")
    for end in (10, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.ofbak").write_bytes(data[:end])
        with pytest.raises(Refusal) as refused:
            archive.verify_checksum(tmp_path / "cut.ofbak")
        assert refused.value.code in ("backup.checksum_mismatch", "backup.not_a_backup")
    (tmp_path / "note.txt").write_text("not a backup")
    with pytest.raises(Refusal) as refused:
        archive.verify_checksum(tmp_path / "note.txt")
    assert refused.value.code == "backup.not_a_backup"


def _recompute_checksum(data: bytes) -> bytes:
    body = data[:-archive.DIGEST]
    return body + hashlib.sha256(body).digest()


def test_a_sealed_backup_refuses_a_wrong_passphrase_and_any_forgery(tmp_path: Path) -> None:
    path = tmp_path / "b.ofbak"
    _write(path, PASSPHRASE, os.urandom(5 * 4096))
    with pytest.raises(Refusal) as wrong:
        _read(path, "correct horse battery stapler", tmp_path)
    assert wrong.value.code == "backup.wrong_passphrase"
    with pytest.raises(Refusal) as needed:
        _read(path, None, tmp_path)
    assert needed.value.code == "backup.passphrase_needed"

    data = path.read_bytes()
    header_end = archive.read_header(path)[1]
    sealed = 4096 + archive.TAG
    # A bit changed in the third chunk, the checksum made to match again: the chunk
    # does not open.
    forged = bytearray(data)
    forged[header_end + 2 * sealed + 5] ^= 0x01
    (tmp_path / "f.ofbak").write_bytes(_recompute_checksum(bytes(forged)))
    with pytest.raises(Refusal) as changed:
        _read(tmp_path / "f.ofbak", PASSPHRASE, tmp_path)
    assert changed.value.code == "backup.unreadable"
    # Two chunks swapped, or the last one dropped: refused too.
    chunks = [data[header_end + i * sealed: header_end + (i + 1) * sealed] for i in range(2)]
    swapped = data[:header_end] + chunks[1] + chunks[0] + data[header_end + 2 * sealed:]
    (tmp_path / "s.ofbak").write_bytes(_recompute_checksum(swapped))
    with pytest.raises(Refusal):
        _read(tmp_path / "s.ofbak", PASSPHRASE, tmp_path)
    body_end = len(data) - archive.TRAILER
    last_start = header_end + ((body_end - header_end - archive.TAG - 1) // sealed) * sealed
    dropped = data[:last_start] + data[body_end:]
    (tmp_path / "d.ofbak").write_bytes(_recompute_checksum(dropped))
    with pytest.raises(Refusal):
        _read(tmp_path / "d.ofbak", PASSPHRASE, tmp_path)
    # The header is bound to the body: another installation's name does not fit.
    raw = data[len(archive.MAGIC) + 4:header_end]
    moved = data[:len(archive.MAGIC) + 4] + raw.replace(b"ab12cd34", b"ffffffff") \
        + data[header_end:]
    (tmp_path / "h.ofbak").write_bytes(_recompute_checksum(moved))
    with pytest.raises(Refusal) as rebound:
        _read(tmp_path / "h.ofbak", PASSPHRASE, tmp_path)
    assert rebound.value.code == "backup.wrong_passphrase"


def test_only_the_expected_members_are_written_where_the_restore_says(tmp_path: Path) -> None:
    path = tmp_path / "b.ofbak"
    header = archive.Header(created_at="x", installation="ab12cd34", database="sqlite",
                            oflocal_version="0", encryption=None)
    with path.open("wb") as out:
        archive.write_archive(out, header, [archive.Member("../../evil", data=b"x")], None)
    with pytest.raises(Refusal) as refused:
        _read(path, None, tmp_path)
    assert refused.value.code == "backup.unreadable"
    assert not (tmp_path.parent / "evil").exists()


def test_short_passphrases_are_refused() -> None:
    with pytest.raises(Refusal) as refused:
        archive.check_passphrase("short")
    assert refused.value.code == "backup.passphrase_too_short"


# --- rotation ------------------------------------------------------------------------------

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo


def _files(tmp_path: Path, moments: list[datetime], installation: str = "ab12cd34") -> list[Path]:
    paths = []
    for at in moments:
        path = tmp_path / rotation.file_name(at, installation)
        path.write_bytes(b"")
        paths.append(path)
    return paths


def test_rotation_keeps_every_recent_one_a_day_for_a_month_and_the_newest(
        tmp_path: Path) -> None:
    every_ten = [NOW - timedelta(minutes=10 * i) for i in range(6 * 48)]  # two days
    old_days = [NOW - timedelta(days=d, hours=h) for d in range(3, 40) for h in (1, 5)]
    paths = _files(tmp_path, every_ten + old_days)
    other = _files(tmp_path, [NOW - timedelta(days=60)], installation="ffffffff")[0]
    (tmp_path / "notes.txt").write_text("kept")
    found = rotation.backups(tmp_path, "ab12cd34")
    assert len(found) == len(paths) and other not in [b.path for b in found]
    doomed = {b.path for b in rotation.to_delete(found, NOW, keep_hours=24, keep_days=30)}
    kept = [b for b in found if b.path not in doomed]
    assert all(b.at >= NOW - timedelta(hours=24) for b in kept[:145])
    assert {b.path for b in found if b.at >= NOW - timedelta(hours=24)} <= {b.path for b in kept}
    older = [b for b in kept if b.at < NOW - timedelta(hours=24)]
    days = [rotation.clock.tokyo_date(b.at) for b in older]
    assert len(days) == len(set(days)), "one per day beyond the recent hours"
    assert all(b.at >= NOW - timedelta(days=30) for b in older)
    for day in set(days):  # the last one of its day
        same_day = [b for b in found if rotation.clock.tokyo_date(b.at) == day]
        assert max(same_day, key=lambda b: b.at) in older
    assert len(older) >= 28
    # Long silent: the newest is kept whatever its age.
    alone = rotation.backups(tmp_path, "ab12cd34")[-1:]
    assert rotation.to_delete(alone, NOW + timedelta(days=400), keep_hours=24, keep_days=30) == []


def test_file_names_sort_by_time_and_parse_back() -> None:
    at = datetime(2026, 11, 27, 15, 4, 5, tzinfo=UTC)  # 00:04:05 on the 28th in Tokyo
    name = rotation.file_name(at, "ab12cd34")
    assert name == "oflocal-20261128-000405-ab12cd34.ofbak"
    parsed = rotation.parse(Path(name))
    assert parsed is not None and parsed.at == at and parsed.installation == "ab12cd34"
    assert rotation.parse(Path(rotation.file_name(at, "ab12cd34", 2))) is not None
    assert rotation.parse(Path(".oflocal-ab12cd34-0a1b2c.partial")) is None


# --- the notice on the staff pages -----------------------------------------------------------


def _settings(tmp_path: Path, **backup: object) -> Settings:
    return Settings(data_dir=tmp_path, database_url="sqlite://", secret_key=b"x",
                    backup=Backup(**backup))  # type: ignore[arg-type]


def test_notice_says_what_the_status_means(tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    assert status.notice(_settings(tmp_path), None).kind == "off"
    assert status.notice(_settings(tmp_path, external=True), None).level == "none"
    on = _settings(tmp_path, dir=usb)
    assert status.notice(on, None, NOW) == status.Notice("warn", "never", target=str(usb))
    good = status.record_success(tmp_path, target=usb, file=usb / "a.ofbak", size=10,
                                 seconds=1, encrypted=True, same_disk=False, at=NOW)
    assert status.notice(on, good, NOW + timedelta(minutes=10)).level == "ok"
    late = status.notice(on, good, NOW + timedelta(minutes=23))
    assert (late.level, late.kind, late.minutes) == ("alert", "stale", 23)
    failed = status.record_failure(tmp_path, target=usb, code="backup.target_missing",
                                   facts={"dir": str(usb)}, at=NOW + timedelta(minutes=10))
    assert failed.last_good_file == "a.ofbak" and failed.failures == 1
    shown = status.notice(on, status.read_status(tmp_path), NOW + timedelta(minutes=11))
    assert (shown.level, shown.kind, shown.error_code) == ("alert", "failing",
                                                           "backup.target_missing")
    assert shown.last_good == NOW
    same = status.record_success(tmp_path, target=usb, file=usb / "b.ofbak", size=10,
                                 seconds=1, encrypted=False, same_disk=True, at=NOW)
    assert status.notice(on, same, NOW).kind == "same_disk"
    assert status.notice(_settings(tmp_path, dir=usb, synced=True), same, NOW).level == "ok"
    status.status_path(tmp_path).write_text("{not json")
    assert status.notice(on, status.read_status(tmp_path), NOW).level == "alert"


def test_credentials_are_named_not_kept() -> None:
    kept = settings_to_keep({
        "OFLOCAL_UNDO_WINDOW_SECONDS": "300", "OFLOCAL_STRIPE_SECRET_KEY": "sk_live_x",
        "OFLOCAL_SMTP_PASSWORD": "pw", "OFLOCAL_SECRET_KEY": "abc", "OFLOCAL_DATA_DIR": "/v",
        "OFLOCAL_BACKUP_DIR": "/media/usb", "OFLOCAL_TEST_POSTGRES_URL": "x", "HOME": "/root",
    }, "postgresql+psycopg://u:pw@db/oflocal")
    assert kept.env == {"OFLOCAL_UNDO_WINDOW_SECONDS": "300", "OFLOCAL_BACKUP_DIR": "/media/usb"}
    assert kept.not_kept == ["OFLOCAL_SMTP_PASSWORD", "OFLOCAL_STRIPE_SECRET_KEY"]
    assert "pw" not in kept.database_url
    text = env_file(kept, data_dir=Path("/new home"), database_url=None, source="b.ofbak")
    assert "OFLOCAL_DATA_DIR='/new home'" in text
    assert "\nOFLOCAL_UNDO_WINDOW_SECONDS=300\n" in text
    assert "# OFLOCAL_BACKUP_DIR=/media/usb" in text  # a path of the old machine
    assert "sk_live_x" not in text and "OFLOCAL_STRIPE_SECRET_KEY" in text
    assert io.StringIO(text).readline().startswith("#")
