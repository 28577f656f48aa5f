"""Where the service may send requests to identity providers (identity.oidc.egress): the
address rules themselves, and how the operator configures them. The refusals through the
API are in test_identity_pages_attacks.py."""

from __future__ import annotations

import ipaddress

import pytest

from roomwarden.identity.oidc import egress
from roomwarden.settings import Settings

DEFAULT = Settings()
LISTED = Settings(oidc_allowed_networks="10.0.0.0/8, fd12:3456::/32")  # type: ignore[arg-type]
OPEN = Settings(oidc_allow_private=True)


@pytest.mark.parametrize(
    ("address", "default", "listed"),
    [
        ("93.184.216.34", True, True),
        ("2606:4700::1111", True, True),
        ("127.0.0.1", False, False),
        ("127.8.9.10", False, False),
        ("::1", False, False),
        ("::ffff:127.0.0.1", False, False),
        ("169.254.169.254", False, False),
        ("fe80::1", False, False),
        ("fd00:ec2::254", False, False),
        ("100.100.100.200", False, False),
        ("168.63.129.16", False, False),
        ("0.0.0.0", False, False),
        ("224.0.0.1", False, False),
        ("10.1.2.3", False, True),
        ("fd12:3456::7", False, True),
        ("192.168.1.10", False, False),
        ("172.16.0.5", False, False),
        ("100.64.1.1", False, False),
        ("fc00::1", False, False),
    ],
)
def test_which_addresses_a_provider_may_have(address: str, default: bool, listed: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert (egress.address_problem(DEFAULT, ip) is None) is default
    assert (egress.address_problem(LISTED, ip) is None) is listed
    assert egress.address_problem(OPEN, ip) is None  # development and tests


def test_urls_must_be_https_unless_private_is_allowed() -> None:
    assert egress.url_problem(DEFAULT, "http://idp.example.com/") == "it must use https://"
    assert egress.url_problem(DEFAULT, "https://user:pw@idp.example.com/") is not None
    assert egress.url_problem(DEFAULT, "https://127.0.0.1/") is not None
    assert egress.url_problem(DEFAULT, "https://idp.example.com/realms/x") is None
    assert egress.url_problem(OPEN, "http://127.0.0.1:8080/") is None


def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    with pytest.raises(egress.EgressRefused, match="loopback"):
        egress.resolve(DEFAULT, "localhost", 443)
    assert egress.resolve(OPEN, "localhost", 443)


def test_the_operator_lists_networks_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOMWARDEN_OIDC_ALLOWED_NETWORKS", "10.0.0.0/8, 192.168.10.0/24")
    monkeypatch.setenv("ROOMWARDEN_OIDC_ALLOW_PRIVATE", "false")
    settings = Settings()
    assert [str(n) for n in settings.oidc_allowed_networks] == ["10.0.0.0/8", "192.168.10.0/24"]
    assert egress.address_problem(settings, ipaddress.ip_address("192.168.10.7")) is None
    assert egress.address_problem(settings, ipaddress.ip_address("192.168.11.7")) is not None
