"""How to reach murron-server, as the Rust library's ``ServerConfig``: ``https://host:port`` speaks
TLS and checks the server's certificate against the system's roots, or only against the CA
certificates of ``ca_file`` (a PEM file) when it is set; ``http://host:port`` or a bare
``host:port`` is plain text. ``token`` is sent as a bearer token. ``repr`` hides the token."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerConfig:
    url: str
    ca_file: str | None = None
    token: str | None = field(default=None, repr=False)

    def __post_init__(self):
        scheme, sep, rest = self.url.partition("://")
        if not sep:
            scheme, rest = "http", self.url
        if scheme not in ("http", "https") or not rest or "/" in rest or "@" in rest:
            raise ValueError(f"server {self.url!r} is not host:port, http://host:port or https://host:port")
        if self.ca_file is not None and scheme != "https":
            raise ValueError(f"ca_file is set but the server {self.url!r} is not https://")

    @property
    def tls(self) -> bool:
        return self.url.startswith("https://")

    @property
    def target(self) -> str:
        """``host:port``, as gRPC takes it."""
        return self.url.partition("://")[2] or self.url
