"""Container health check: GET $HEALTHCHECK_URL (default: the registry's /health) answers
200 within 3 s. Standard library only; exit status 0 = healthy."""

import os
import sys
import urllib.request

url = os.environ.get("HEALTHCHECK_URL", "http://127.0.0.1:8350/health")
try:
    with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (loopback URL)
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    print(f"unhealthy: {url}: {exc}", file=sys.stderr)
    sys.exit(1)
