"""A throw-away certificate authority for loopback TLS (registry, token issuer, fault proxy).

Everything is ECDSA P-256: key generation takes well under a millisecond, which keeps harness start-up
fast. One CA per process is enough (and lets clients trust every test server with one ``ca_file``);
each :func:`write_pki` call writes it to the directory it is given so nothing is shared on disk.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "PKI",
    "CertKey",
    "PKIFiles",
    "client_context",
    "libtrust_key_id",
    "make_pki",
    "server_context",
    "write_pki",
]


@dataclass(frozen=True)
class CertKey:
    """A certificate and its private key, in memory."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


@dataclass(frozen=True)
class PKI:
    """The CA, a server certificate for ``127.0.0.1``/``localhost`` and a JWT signing certificate."""

    ca: CertKey
    server: CertKey
    signer: CertKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now() -> dt.datetime:
    # Back-date a little: the registry (Go) and Python may disagree on the clock by a few ms.
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


def _ca() -> CertKey:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("cacheinspect test CA"))
        .issuer_name(_name("cacheinspect test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertKey(cert, key)


def _leaf(ca: CertKey, cn: str, *, server: bool) -> CertKey:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.2")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return CertKey(builder.sign(ca.key, hashes.SHA256()), key)


@functools.cache
def make_pki() -> PKI:
    """The process-wide test PKI (generated once, a few milliseconds)."""
    ca = _ca()
    return PKI(
        ca=ca,
        server=_leaf(ca, "127.0.0.1", server=True),
        signer=_leaf(ca, "cacheinspect test token signer", server=False),
    )


@dataclass(frozen=True)
class PKIFiles:
    """Where :func:`write_pki` put the PEM files."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    signer_cert: Path


def write_pki(directory: Path, pki: PKI | None = None) -> PKIFiles:
    """Write the CA, the server pair and the signer certificate as PEM files into ``directory``."""
    pki = pki or make_pki()
    directory.mkdir(parents=True, exist_ok=True)
    files = PKIFiles(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        signer_cert=directory / "token-signer.pem",
    )
    files.ca_cert.write_bytes(pki.ca.cert_pem)
    # The chain (leaf + CA) lets clients that only trust the CA verify the server.
    files.server_cert.write_bytes(pki.server.cert_pem + pki.ca.cert_pem)
    files.server_key.write_bytes(pki.server.key_pem)
    files.server_key.chmod(0o600)
    files.signer_cert.write_bytes(pki.signer.cert_pem)
    return files


def server_context(files: PKIFiles) -> ssl.SSLContext:
    """A server-side TLS context with the loopback server certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files.server_cert, files.server_key)
    return ctx


def client_context(ca_file: Path) -> ssl.SSLContext:
    """A verifying client context that trusts only the test CA."""
    return ssl.create_default_context(cafile=str(ca_file))


def libtrust_key_id(key: ec.EllipticCurvePublicKey) -> str:
    """The ``kid`` docker/libtrust derives from a public key (what distribution's ``TrustedKeys`` uses).

    SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without padding, in groups of four
    joined by ``:`` (e.g. ``ABCD:EFGH:…``, 12 groups).
    """
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))
