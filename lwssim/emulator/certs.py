"""A throw-away PKI for the emulated cluster: one CA, serving certs for 127.0.0.1, an admin client cert.

The same CA signs the kube-apiserver's serving cert, the admin client cert (``O=system:masters``)
and the LWS webhook's serving cert, so the webhook configurations' ``caBundle`` is simply the CA.
The service-account signing key is a separate RSA key pair, as the apiserver requires.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class Pki:
    """Paths of every PEM file the stack needs."""

    dir: Path
    ca_crt: Path
    ca_key: Path
    apiserver_crt: Path
    apiserver_key: Path
    admin_crt: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path
    webhook_dir: Path  # holds tls.crt / tls.key, as controller-runtime's certDir expects


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o600)


def _builder(subject: x509.Name, issuer: x509.Name, public_key, *, ca: bool) -> x509.CertificateBuilder:
    """The fields every certificate here shares; a CA may sign certificates and CRLs, a leaf may not."""
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def _sign(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    *,
    server: bool,
    dns: list[str] | None = None,
    ips: list[str] | None = None,
) -> x509.Certificate:
    b = _builder(subject, ca_name, key.public_key(), ca=False).add_extension(
        x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
        ),
        critical=False,
    )
    if dns or ips:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns or []]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips or []]
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(ca_key, hashes.SHA256())


def make_pki(directory: Path) -> Pki:
    """Create every key and certificate under ``directory`` and return their paths."""
    d = directory
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lwssim-emulator-ca")])
    ca = _builder(ca_name, ca_name, ca_key.public_key(), ca=True).sign(ca_key, hashes.SHA256())
    pki = Pki(
        dir=d,
        ca_crt=d / "ca.crt",
        ca_key=d / "ca.key",
        apiserver_crt=d / "apiserver.crt",
        apiserver_key=d / "apiserver.key",
        admin_crt=d / "admin.crt",
        admin_key=d / "admin.key",
        sa_key=d / "sa.key",
        sa_pub=d / "sa.pub",
        webhook_dir=d / "webhook",
    )
    _write(pki.ca_crt, ca.public_bytes(serialization.Encoding.PEM))
    _write(pki.ca_key, _pem_key(ca_key))

    # 10.0.0.1 is the `kubernetes` Service's ClusterIP; it is only named, never dialled.
    k = _key()
    c = _sign(
        ca_key,
        ca_name,
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        k,
        server=True,
        dns=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
        ips=["127.0.0.1", "10.0.0.1"],
    )
    _write(pki.apiserver_crt, c.public_bytes(serialization.Encoding.PEM))
    _write(pki.apiserver_key, _pem_key(k))

    k = _key()
    c = _sign(
        ca_key,
        ca_name,
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "lwssim-admin"),
            ]
        ),
        k,
        server=False,
    )
    _write(pki.admin_crt, c.public_bytes(serialization.Encoding.PEM))
    _write(pki.admin_key, _pem_key(k))

    k = _key()
    c = _sign(
        ca_key,
        ca_name,
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lws-webhook")]),
        k,
        server=True,
        dns=["localhost"],
        ips=["127.0.0.1"],
    )
    _write(pki.webhook_dir / "tls.crt", c.public_bytes(serialization.Encoding.PEM))
    _write(pki.webhook_dir / "tls.key", _pem_key(k))

    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(pki.sa_key, _pem_key(sa))
    _write(
        pki.sa_pub,
        sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return pki
