"""Optional TLS for the sandbox API, because kubectl sends no credentials to an ``http://`` server.

client-go reads a kubeconfig's user credentials (token, client cert, exec plugin) only when the
cluster's server is ``https://`` (kubernetes/kubectl#744), so kubectl against a plain-HTTP sandbox
is always anonymous (401). Serving the API over TLS with a throwaway self-signed certificate, and
putting that certificate in the kubeconfig, makes kubectl and k9s authenticate like against any
cluster. The certificate is made with the ``cryptography`` package (Python's ssl module cannot).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsMaterial:
    """A self-signed certificate for 127.0.0.1/localhost and its key (mode 0600)."""

    cert_path: Path
    key_path: Path

    @property
    def ca_pem(self) -> bytes:
        """The certificate, to trust as the CA (kubeconfig ``certificate-authority-data``)."""
        return self.cert_path.read_bytes()

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_path))


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
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the key is born 0600
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsMaterial(cert_path, key_path)
