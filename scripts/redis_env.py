"""Prints shell assignments of the Redis host, port, db and password in a URL."""

import shlex
import sys
from urllib.parse import unquote, urlparse

url = urlparse(sys.argv[1])
values = {
    "REDIS_HOST": url.hostname or "127.0.0.1",
    "REDIS_PORT": str(url.port or 6379),
    "REDIS_DB": (url.path or "/0").lstrip("/") or "0",
    "REDIS_PASSWORD": unquote(url.password or ""),
}
print("\n".join(f"{name}={shlex.quote(value)}" for name, value in values.items()))
