"""Certificates and a password file for a TLS + password mosquitto (DESIGN §9)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

USER = "gateway"
PASSWORD = "s3cret-pass"


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that did not sign the server certificate
    passwd: Path
    client_cert: Path  # signed by ``ca``, CN = USER (mutual TLS)
    client_key: Path

    def broker_conf(self) -> str:
        return "\n".join([f"cafile {self.ca}", f"certfile {self.cert}", f"keyfile {self.key}",
                          f"password_file {self.passwd}"])

    def mutual_tls_conf(self) -> str:
        """Clients must show a certificate from ``ca``; its CN is their user name."""
        return "\n".join([f"cafile {self.ca}", f"certfile {self.cert}", f"keyfile {self.key}",
                          "require_certificate true", "use_identity_as_username true"])


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             f"/CN={name}", "-keyout", str(key), "-out", str(cert), cwd=directory)
    return cert, key


def make_tls(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _make_ca(directory, "test-ca")
    other_ca, _ = _make_ca(directory, "other-ca")
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", str(key), "-out", str(csr), cwd=directory)
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert),
             cwd=directory)
    client_key, client_csr = directory / "client.key", directory / "client.csr"
    client_cert = directory / "client.crt"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={USER}",
             "-keyout", str(client_key), "-out", str(client_csr), cwd=directory)
    _openssl("x509", "-req", "-in", str(client_csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "2", "-out", str(client_cert), cwd=directory)
    passwd = directory / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), USER, PASSWORD], check=True,
                   capture_output=True)
    passwd.chmod(0o600)
    return TlsFiles(ca, cert, key, other_ca, passwd, client_cert, client_key)
