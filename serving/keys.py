"""`python -m serving.keys --scopes predict`: a new serving API key, and the entry that
grants it in SERVING_API_KEYS (the key itself is never stored, only its SHA-256)."""

from __future__ import annotations

import argparse

from registry_service.auth import hash_key, new_key
from serving.settings import API_SCOPES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scopes", default="predict", help=f"'+'-separated: {sorted(API_SCOPES)}")
    args = parser.parse_args()
    scopes = sorted({s.strip() for s in args.scopes.split("+") if s.strip()})
    if not scopes or not set(scopes) <= API_SCOPES:
        parser.error(f"scopes must be among {sorted(API_SCOPES)}")
    key, _ = new_key()
    print(f"key:   {key}")
    print(f"entry: {hash_key(key)}:{'+'.join(scopes)}")


if __name__ == "__main__":
    main()
