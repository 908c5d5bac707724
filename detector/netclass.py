"""What kind of network an IP address is on, and the network keys baselines remember.

    >>> ip_class("10.244.3.17"), ip_class("185.220.101.47"), ip_class("fd00::1")
    ('private', 'public', 'private')
    >>> network_of("185.220.101.47"), wide_network_of("185.220.101.47")
    ('185.220.101.0/24', '185.220.0.0/16')
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

_PRIVATE_V4 = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8")
]


@lru_cache(maxsize=65_536)
def ip_class(ip: str | None) -> str | None:
    """'private' (RFC 1918, CGNAT, link-local, loopback, ULA) or 'public'; None without an IP."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if address.version == 4:
        return "private" if any(address in net for net in _PRIVATE_V4) else "public"
    return "private" if (address.is_private or address.is_link_local or address.is_loopback) else "public"


@lru_cache(maxsize=65_536)
def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /64 (IPv6) an address is in: the unit of 'a network' in baselines."""
    if not ip:
        return None
    if ":" in ip:
        try:
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        except ValueError:
            return None
    a, b, c, _ = ip.split(".")
    return f"{a}.{b}.{c}.0/24"


@lru_cache(maxsize=65_536)
def wide_network_of(ip: str | None) -> str | None:
    """The /16 (IPv4) or /48 (IPv6): a provider's block, e.g. a CI vendor's or a NAT's range."""
    if not ip:
        return None
    if ":" in ip:
        try:
            return str(ipaddress.ip_network(f"{ip}/48", strict=False))
        except ValueError:
            return None
    a, b, _, _ = ip.split(".")
    return f"{a}.{b}.0.0/16"
