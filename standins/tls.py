"""HTTPS for the Mailjet stand-in in tests: a throwaway certificate authority and a server
certificate for the loopback names, made at test time (`trustme`).

Why: mailjet-rest mounts its retrying adapter on `https://` only, so a stand-in served over
plain http hides what production does (a POST retried after a lost answer). The bot under
test trusts the CA through `REQUESTS_CA_BUNDLE`, which requests reads for every call.
"""

from __future__ import annotations

import ssl
from pathlib import Path


def local_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server SSL context for 127.0.0.1/localhost/::1 and the path of the CA to trust."""
    import trustme  # a test dependency: the product never serves TLS itself

    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost", "::1")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server)
    ca_path = directory / "standin-ca.pem"
    authority.cert_pem.write_to_path(str(ca_path))
    return server, ca_path
