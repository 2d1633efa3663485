"""``oflocal backup`` and ``oflocal restore``: thin shells around ``create.py`` and
``restore.py`` (see docs/operations.md)."""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime
from pathlib import Path

import click

from oflocal.backup import archive, status
from oflocal.backup.create import create_backup, read_passphrase_file
from oflocal.backup.restore import check_backup, describe, restore
from oflocal.cli_base import settings
from oflocal.errors import Refusal
from oflocal.format import tokyo_minute, yen


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


@click.command("backup")
@click.option("--to", "target", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write to (default: OFLOCAL_BACKUP_DIR). It must exist.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Encrypt with the passphrase in this file "
              "(default: OFLOCAL_BACKUP_PASSPHRASE_FILE, when set).")
@click.option("--encrypt", is_flag=True, help="Ask for a passphrase and encrypt.")
@click.option("--no-rotate", is_flag=True, help="Delete no old backups this time.")
@click.option("--status", "show_status", is_flag=True,
              help="Only say how the automatic backups are going.")
def backup_command(target: Path | None, passphrase_file: Path | None, encrypt: bool,
                   no_rotate: bool, show_status: bool) -> None:
    """Write a backup of the books and the signing secret, while the server runs."""
    config = settings().backup
    if show_status:
        _show_status()
        return
    folder = target or config.dir
    if folder is None:
        raise click.UsageError("name a folder with --to, or set OFLOCAL_BACKUP_DIR")
    passphrase = None
    chosen = passphrase_file or config.passphrase_file
    if encrypt:
        passphrase = click.prompt("Passphrase (パスフレーズ)", hide_input=True,
                                  confirmation_prompt=True)
    elif chosen is not None:
        passphrase = read_passphrase_file(chosen)
    result = create_backup(settings(), target=folder, passphrase=passphrase,
                           rotate=not no_rotate)
    summary = result.manifest.summary
    counts, ledger = summary.get("counts", {}), summary.get("ledger", {})
    click.echo(f"backup written: {result.path} ({_megabytes(result.size)}, "
               f"{result.seconds:.1f} s, {'encrypted' if result.encrypted else 'NOT encrypted'})")
    made = datetime.fromisoformat(result.manifest.created_at)
    click.echo(f"  snapshot {tokyo_minute(made)} (Asia/Tokyo), schema "
               f"{summary.get('revision')}, {counts.get('redemption', 0):,} redemptions, "
               f"{ledger.get('entries', 0):,} journal entries, debits = credits = "
               f"{yen(ledger.get('debits', 0))}")
    codes = result.manifest.codes
    if codes.get("checked"):
        click.echo(f"  signing secret: {codes['authentic']}/{codes['checked']} printed codes "
                   "authentic")
    if result.deleted:
        click.echo(f"  rotation: {len(result.deleted)} older backup(s) deleted")
    if not result.encrypted:
        click.echo("  ! the file holds the signing secret unencrypted: keep it as safe as "
                   "the laptop (or use --encrypt)", err=True)
    if result.same_disk:
        click.echo("  ! the folder is on this machine's own disk: a lost or broken laptop "
                   "takes it too", err=True)


def _show_status() -> None:
    current = status.read_status(settings().data_dir)
    shown = status.notice(settings(), current)
    click.echo(f"automatic backups: {shown.kind}"
               + (f" (folder {shown.target})" if shown.target else ""))
    if current and current.last_good:
        click.echo(f"last good backup: {tokyo_minute(current.last_good)} "
                   f"{current.last_good_file} ({_megabytes(current.last_good_bytes)})")
    if current and not current.last_ok and current.error_code:
        try:
            reason = Refusal(current.error_code, **current.error_facts)
            click.echo(f"last attempt failed: {reason.message('ja')}\n  {reason.message('en')}")
        except KeyError:
            click.echo(f"last attempt failed: {current.error_code}")
    if shown.level == "alert":
        sys.exit(1)


def _passphrase(file: Path, passphrase_file: Path | None) -> str | None:
    header, _ = archive.read_header(file)
    if not header.encrypted:
        return None
    if passphrase_file is not None:
        return read_passphrase_file(passphrase_file)
    value: str = click.prompt("Passphrase (パスフレーズ)", hide_input=True)
    return value


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--into", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The new installation's data folder (empty or new).")
@click.option("--force", is_flag=True,
              help="Replace an installation already there (its files are moved aside).")
@click.option("--database-url", default=None,
              help="PostgreSQL backups: the empty database to restore into.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="An encrypted backup's passphrase (else it is asked for).")
@click.option("--check", "check_only", is_flag=True,
              help="Only check the file (checksum, passphrase, contents) and say what it holds.")
@click.option("--pg-bin-dir", envvar="OFLOCAL_PG_BIN_DIR", default="",
              help="Where pg_restore is (default: on the PATH).")
def restore_command(file: Path, into: Path | None, force: bool, database_url: str | None,
                    passphrase_file: Path | None, check_only: bool, pg_bin_dir: str) -> None:
    """Build a new installation from a backup, compare it with the backup's manifest and
    run the auditor on it. Exit 1 when any check fails."""
    if into is None and not check_only:
        raise click.UsageError("name the new installation's folder with --into (or --check)")
    passphrase = _passphrase(file, passphrase_file)
    if check_only:
        with tempfile.TemporaryDirectory() as scratch:
            manifest = check_backup(file, passphrase, Path(scratch))
        click.echo(f"✓ checksum {archive.checksum_of(file)[:16]}… ({file.name})")
        click.echo("✓ contents match the manifest")
        for key, value in describe(manifest).items():
            click.echo(f"  {key:<16} {value}")
        return
    assert into is not None
    report = restore(file, into, passphrase=passphrase, force=force,
                     database_url=database_url, pg_bin_dir=pg_bin_dir)
    click.echo(f"✓ checksum {archive.checksum_of(file)[:16]}… ({file.name})")
    made = describe(report.manifest)
    click.echo(f"backup made {made['made']} on {made['host'] or '?'} "
               f"(oflocal {made['oflocal']}, schema {made['schema']}, {made['database']})")
    if report.moved_aside:
        click.echo(f"the installation that was there was moved to {report.moved_aside}")
    click.echo(f"restored into {report.data_dir}")
    if report.differences:
        click.echo("✕ the restored database differs from the backup's manifest:")
        for line in report.differences[:20]:
            click.echo(f"    {line}")
    else:
        click.echo(f"✓ the same books as the manifest: {made['redemptions']:,} redemptions, "
                   f"{made['journal entries']:,} journal entries, debits {yen(made['debits'])}")
    if report.migrated_from:
        click.echo(f"  schema migrated from {report.migrated_from}")
    for name, ok, detail in report.audit.checks:
        if not ok:
            click.echo(f"✕ auditor: {name} ({detail})")
    click.echo(f"{'✓' if report.audit.ok else '✕'} auditor: "
               f"{sum(ok for _n, ok, _d in report.audit.checks)}/{len(report.audit.checks)} "
               "checks passed")
    if report.codes_checked:
        click.echo(f"{'✓' if report.codes_authentic == report.codes_checked else '✕'} "
                   f"signing secret: {report.codes_authentic}/{report.codes_checked} printed "
                   "codes authentic")
    click.echo(f"next: set -a; . {report.data_dir / 'oflocal.env'}; set +a; "
               "oflocal serve --host 0.0.0.0")
    if not report.ok:
        sys.exit(1)
