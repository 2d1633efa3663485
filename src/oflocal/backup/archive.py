"""The backup file: one file, checked end to end, optionally sealed with a passphrase.

Layout (integers big-endian)::

    MAGIC                  16 bytes, b"\\x89OFLOCAL-BACKUP\\n" (a text-mode copy breaks it)
    header length, header  4 bytes, then JSON (UTF-8): the format, when, which
                           installation, the database kind, and how the body is sealed
    body                   a gzip-compressed tar of the members, manifest.json first;
                           with a passphrase, cut into 1 MiB chunks, each sealed with
                           AES-256-GCM under a key made from the passphrase by scrypt
    trailer                END_MARK (8 bytes), then the SHA-256 of everything before it

The checksum finds a damaged or cut-off file before anything is read from it; the
sealing finds a wrong passphrase and, since the checksum could be recomputed by
anyone, any deliberate change (authenticated encryption). Chunks follow the STREAM
construction: the nonce is the file's random prefix, the chunk's number and a flag on
the last chunk, and the header is the associated data of every chunk, so chunks cannot
be reordered, dropped, cut off or moved to another file unnoticed.

Nothing here knows about databases: members are named files and bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from oflocal.errors import Refusal

MAGIC = b"\x89OFLOCAL-BACKUP\n"
END_MARK = b"OFLEND\r\n"
FORMAT = "oflocal-backup"
VERSION = 1
DIGEST = 32
TRAILER = len(END_MARK) + DIGEST
MAX_HEADER = 64 * 1024
CHUNK = 1 << 20
TAG = 16
# scrypt at OWASP's recommendation (128 MiB, about half a second on a laptop): once per
# backup and per restore. Recorded in each file's header, which is what a restore uses.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
MIN_PASSPHRASE = 8
COMPRESS_LEVEL = 6
COPY = 1 << 20


@dataclass(frozen=True)
class Member:
    """One file in the archive: from a path on disk, or bytes."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    def size(self) -> int:
        return self.path.stat().st_size if self.path is not None else len(self.data or b"")

    def open(self) -> BinaryIO:
        return self.path.open("rb") if self.path is not None else io.BytesIO(self.data or b"")


@dataclass(frozen=True)
class Header:
    """What a backup says about itself before it is opened (never the books: those are
    in the manifest, sealed with the rest)."""

    created_at: str
    installation: str
    database: str
    oflocal_version: str
    encryption: dict[str, Any] | None
    raw: bytes = b""

    @property
    def encrypted(self) -> bool:
        return self.encryption is not None

    def to_bytes(self) -> bytes:
        return json.dumps({
            "format": FORMAT, "version": VERSION, "created_at": self.created_at,
            "installation": self.installation, "database": self.database,
            "oflocal_version": self.oflocal_version, "encryption": self.encryption,
        }, sort_keys=True).encode()


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise Refusal("backup.passphrase_too_short", minimum=MIN_PASSPHRASE)


def _key(passphrase: str, kdf: dict[str, Any]) -> bytes:
    if kdf.get("name") != "scrypt":
        raise Refusal("backup.unreadable", reason=f"unknown key derivation {kdf.get('name')!r}")
    return Scrypt(salt=bytes.fromhex(kdf["salt"]), length=32, n=int(kdf["n"]),
                  r=int(kdf["r"]), p=int(kdf["p"])).derive(passphrase.encode())


def new_encryption() -> dict[str, Any]:
    """Fresh parameters for one file: its salt and nonce prefix are its own."""
    return {"cipher": "AES-256-GCM", "chunk": CHUNK, "nonce_prefix": os.urandom(7).hex(),
            "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                    "salt": os.urandom(16).hex()}}


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


# --- writing ---------------------------------------------------------------------------------


class _Sink:
    """The file itself: every byte written is hashed for the trailer."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.hash, self.written = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        if data:
            self.out.write(data)
            self.hash.update(data)
            self.written += len(data)


class _Sealer:
    """Plain bytes in, sealed chunks (or the same bytes, without a passphrase) out."""

    def __init__(self, sink: _Sink, key: bytes | None, encryption: dict[str, Any] | None,
                 associated: bytes) -> None:
        self.sink = sink
        self.aead = AESGCM(key) if key is not None else None
        self.prefix = bytes.fromhex(encryption["nonce_prefix"]) if encryption else b""
        self.associated = associated
        self.buffer = bytearray()
        self.counter = 0

    def write(self, data: bytes) -> None:
        if self.aead is None:
            self.sink.write(data)
            return
        self.buffer += data
        # A chunk leaves only once more data follows it: the last one carries the flag.
        while len(self.buffer) > CHUNK:
            self._seal(bytes(self.buffer[:CHUNK]), last=False)
            del self.buffer[:CHUNK]

    def _seal(self, plain: bytes, *, last: bool) -> None:
        assert self.aead is not None
        self.sink.write(self.aead.encrypt(_nonce(self.prefix, self.counter, last), plain,
                                          self.associated))
        self.counter += 1

    def close(self) -> None:
        if self.aead is not None:
            self._seal(bytes(self.buffer), last=True)
            self.buffer.clear()


class _Compressor(io.RawIOBase):
    """What tarfile writes to: gzip, then the sealer."""

    def __init__(self, sealer: _Sealer, level: int) -> None:
        self.sealer = sealer
        self.zip = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: the gzip format

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sealer.write(self.zip.compress(bytes(data)))
        return len(data)

    def finish(self) -> None:
        self.sealer.write(self.zip.flush())
        self.sealer.close()


def write_archive(out: IO[bytes], header: Header, members: list[Member],
                  passphrase: str | None, *, level: int = COMPRESS_LEVEL,
                  check: Callable[[], None] | None = None) -> str:
    """Write the whole backup to ``out`` (the caller fsyncs and renames it); answers
    the checksum. ``header.encryption`` must be set exactly when there is a passphrase.
    ``check`` is called between blocks (a job's stop request)."""
    if (passphrase is None) != (header.encryption is None):
        raise ValueError("a passphrase needs encryption parameters in the header, and only then")
    key = _key(passphrase, header.encryption["kdf"]) if passphrase and header.encryption \
        else None
    raw = header.to_bytes()
    sink = _Sink(out)
    sink.write(MAGIC + struct.pack(">I", len(raw)) + raw)
    compressor = _Compressor(_Sealer(sink, key, header.encryption, raw), level)
    with tarfile.open(fileobj=compressor, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.size, info.mode, info.mtime = member.size(), 0o600, 0
            with member.open() as source:
                tar.addfile(info, _Checked(source, check))
    compressor.finish()
    sink.write(END_MARK)
    digest = sink.hash.digest()
    out.write(digest)
    return digest.hex()


class _Checked:
    """A file tarfile copies from, asking ``check`` between blocks."""

    def __init__(self, source: BinaryIO, check: Callable[[], None] | None) -> None:
        self.source, self.check = source, check

    def read(self, size: int = -1) -> bytes:
        if self.check is not None:
            self.check()
        return self.source.read(size)


# --- reading ---------------------------------------------------------------------------------


def read_header(path: Path) -> tuple[Header, int]:
    """The header and where the body starts; refuses what is not a backup at all."""
    with path.open("rb") as handle:
        start = handle.read(len(MAGIC) + 4)
        if len(start) < len(MAGIC) + 4 or start[: len(MAGIC)] != MAGIC:
            raise Refusal("backup.not_a_backup", file=path.name)
        (length,) = struct.unpack(">I", start[len(MAGIC):])
        if length > MAX_HEADER:
            raise Refusal("backup.not_a_backup", file=path.name)
        raw = handle.read(length)
    try:
        data = json.loads(raw)
        if data.get("format") != FORMAT:
            raise ValueError("not an oflocal backup")
    except ValueError as error:
        raise Refusal("backup.not_a_backup", file=path.name) from error
    if data.get("version") != VERSION:
        raise Refusal("backup.unreadable", reason=f"format version {data.get('version')}; "
                      "this oflocal reads version 1")
    header = Header(created_at=str(data.get("created_at", "")),
                    installation=str(data.get("installation", "")),
                    database=str(data.get("database", "")),
                    oflocal_version=str(data.get("oflocal_version", "")),
                    encryption=data.get("encryption"), raw=raw)
    return header, len(MAGIC) + 4 + length


def verify_checksum(path: Path) -> Header:
    """Read the whole file and compare its checksum: a damaged, cut-off or altered file
    is refused here, before anything is taken from it."""
    header, body_start = read_header(path)
    size = path.stat().st_size
    if size < body_start + TRAILER:
        raise Refusal("backup.checksum_mismatch", file=path.name)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        left = size - DIGEST
        while left > 0:
            block = handle.read(min(COPY, left))
            if not block:
                break
            digest.update(block)
            left -= len(block)
        end = handle.read(DIGEST)
        handle.seek(size - TRAILER)
        mark = handle.read(len(END_MARK))
    if mark != END_MARK or left != 0 or digest.digest() != end:
        raise Refusal("backup.checksum_mismatch", file=path.name)
    return header


def checksum_of(path: Path) -> str:
    with path.open("rb") as handle:
        handle.seek(-DIGEST, os.SEEK_END)
        return handle.read(DIGEST).hex()


def _plain_chunks(path: Path, header: Header, body_start: int,
                  passphrase: str | None) -> Iterator[bytes]:
    """The body's bytes as written before sealing (still gzip)."""
    body_end = path.stat().st_size - TRAILER
    with path.open("rb") as handle:
        handle.seek(body_start)
        if header.encryption is None:
            left = body_end - body_start
            while left > 0:
                block = handle.read(min(COPY, left))
                if not block:
                    raise Refusal("backup.checksum_mismatch", file=path.name)
                left -= len(block)
                yield block
            return
        if not passphrase:
            raise Refusal("backup.passphrase_needed")
        encryption = header.encryption
        aead = AESGCM(_key(passphrase, encryption["kdf"]))
        prefix = bytes.fromhex(encryption["nonce_prefix"])
        sealed = int(encryption.get("chunk", CHUNK)) + TAG
        length = body_end - body_start
        # Every chunk but the last is full; the last holds 0 to CHUNK plain bytes.
        full = max(0, (length - TAG - 1) // sealed)
        for counter in range(full + 1):
            last = counter == full
            block = handle.read(length - full * sealed if last else sealed)
            try:
                yield aead.decrypt(_nonce(prefix, counter, last), block, header.raw)
            except InvalidTag as error:
                if counter == 0:
                    raise Refusal("backup.wrong_passphrase") from error
                raise Refusal("backup.unreadable", reason="a sealed chunk does not open: "
                              "the file was altered") from error


class _PlainReader(io.RawIOBase):
    """The tar stream: chunks opened and gunzipped as tarfile reads."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.unzip = zlib.decompressobj(31)
        self.buffer = bytearray()
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self.buffer and not self.done:
            chunk = next(self.chunks, None)
            if chunk is None:
                self.buffer += self.unzip.flush()
                self.done = True
            else:
                self.buffer += self.unzip.decompress(chunk)
        count = min(len(target), len(self.buffer))
        target[:count] = self.buffer[:count]
        del self.buffer[:count]
        return count


def extract(path: Path, passphrase: str | None, into: Path,
            allowed: frozenset[str]) -> dict[str, Path]:
    """Write the members named in ``allowed`` into the folder ``into`` (never a path
    the archive chooses); answers name → file. Call :func:`verify_checksum` first."""
    header, body_start = read_header(path)
    found: dict[str, Path] = {}
    reader = io.BufferedReader(_PlainReader(_plain_chunks(path, header, body_start, passphrase)),
                               buffer_size=COPY)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for info in tar:
                if info.name not in allowed or not info.isfile() or info.name in found:
                    raise Refusal("backup.unreadable", reason=f"unexpected member {info.name!r}")
                source = tar.extractfile(info)
                assert source is not None
                target = into / info.name
                with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                          "wb") as out:
                    while block := source.read(COPY):
                        out.write(block)
                found[info.name] = target
    except (tarfile.TarError, zlib.error, EOFError) as error:
        raise Refusal("backup.unreadable", reason=str(error)) from error
    return found
