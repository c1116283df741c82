"""Optional TLS for the sandbox API, because kubectl sends no credentials to an ``http://`` server.

client-go reads a kubeconfig's user credentials (token, client cert, exec plugin) only when the
cluster's server is ``https://`` (kubernetes/kubectl#744), so kubectl against a plain-HTTP sandbox
is always anonymous (401). Serving the API over TLS with a throwaway self-signed certificate, and
putting that certificate in the kubeconfig, makes kubectl and k9s authenticate like against any
cluster. The certificate is made with the ``cryptography`` package (Python's ssl module cannot).

Like kube-apiserver (``--client-ca-file``), the server also asks for an optional client certificate and
verifies one that is sent against its client CA (:class:`ClientCa`), so kubeconfig users with
``client-certificate``/``client-key`` authenticate as the certificate's CN (groups: its O values).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TlsMaterial:
    """A self-signed certificate for 127.0.0.1/localhost and its key (mode 0600)."""

    cert_path: Path
    key_path: Path

    @property
    def ca_pem(self) -> bytes:
        """The certificate, to trust as the CA (kubeconfig ``certificate-authority-data``)."""
        return self.cert_path.read_bytes()

    def server_context(self, client_ca: Path | None = None) -> ssl.SSLContext:
        """The server side; with ``client_ca``, a client certificate is asked for but optional (bearer-token
        clients send none), and one that is sent must be signed by that CA or the handshake fails —
        Go's ``VerifyClientCertIfGiven``, what kube-apiserver uses."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        if client_ca is not None:
            ctx.load_verify_locations(cafile=str(client_ca))
            ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_path))


def _write_key(path: Path, key: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the key is born 0600
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


@dataclass(frozen=True)
class ClientCa:
    """The CA that signs client certificates (kube-apiserver's ``--client-ca-file``); kept beside the
    server's certificate so a restarted sandbox still accepts the certificates it issued."""

    cert_path: Path
    key_path: Path

    @classmethod
    def ensure(cls, directory: str | os.PathLike[str], days: int = 365) -> ClientCa:
        """The CA in ``directory``, made there first if it is not there yet."""
        folder = Path(directory)
        ca = cls(folder / "client-ca.crt", folder / "client-ca.key")
        if ca.cert_path.exists() and ca.key_path.exists():
            return ca
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "llmctl-sandbox-client-ca")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_key(ca.key_path, key)
        ca.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return ca

    def issue(self, user: str, groups: tuple[str, ...] = (), directory: str | os.PathLike[str] | None = None,
              days: int = 30) -> TlsMaterial:
        """A client certificate (CN ``user``, one O per group) and its key, in ``directory`` (default: the
        CA's own) as ``<user>.crt``/``<user>.key``."""
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        folder = Path(directory) if directory is not None else self.cert_path.parent
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
                            + [x509.NameAttribute(NameOID.COMMON_NAME, user)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                           critical=False)
            .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        out = TlsMaterial(folder / f"{user}.crt", folder / f"{user}.key")
        _write_key(out.key_path, key)
        out.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return out


def self_signed(directory: str | os.PathLike[str], days: int = 30, host: str = "127.0.0.1") -> TlsMaterial:
    """Make a P-256 self-signed certificate valid for ``host``, 127.0.0.1 and localhost in ``directory``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "sandbox-api.crt", folder / "sandbox-api.key"
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        extra = ipaddress.ip_address(host)
        if str(extra) != "127.0.0.1":
            names.append(x509.IPAddress(extra))
    except ValueError:
        names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "llmctl-sandbox")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsMaterial(cert_path, key_path)
