"""What the server process maps: the client side (libcurl and everything it
links, OpenSSL among them) lives in intent-bus-client, so a running server
never loads it (docs/ARCHITECTURE.md, docs/BENCHMARKS.md idle RSS)."""

from pathlib import Path

from conftest import sqlite_only


def mapped_libraries(pid):
    names = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and ".so" in fields[5]:
            names.add(Path(fields[5]).name)
    return names


@sqlite_only("libpq, loaded for a PostgreSQL database, links OpenSSL and LDAP")
def test_a_serving_bus_maps_no_client_library(shared_server, bus):
    intent_id = bus.publish(goal="footprint")
    claimed = bus.claim_ok(goal="footprint")
    assert bus.fulfill(intent_id, claimed["claim_token"]).status == 200
    libraries = mapped_libraries(shared_server.proc.pid)
    assert any(name.startswith("libgnutls") for name in libraries), libraries
    for unwanted in ("libcurl", "libcrypto", "libssl", "libssh2", "libldap"):
        assert not any(name.startswith(unwanted) for name in libraries), (unwanted, libraries)
