"""Registers every schemas/<group>/<name>.avsc as subject <group>.<name> over the Confluent REST API,
once the registry is ready. Used by deploy/compose.yaml; needs only the standard library."""

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def wait_ready(base, seconds=120):
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=5):
                return
        except (urllib.error.URLError, OSError) as e:
            if time.monotonic() > deadline:
                sys.exit(f"registry at {base} not ready after {seconds} s: {e}")
            time.sleep(1)


def register(base, subject, schema):
    body = json.dumps({"schema": schema}).encode()
    request = urllib.request.Request(
        f"{base}/subjects/{subject}/versions", data=body, method="POST", headers={"Content-Type": CONTENT_TYPE}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["id"]
    except urllib.error.HTTPError as e:
        sys.exit(f"registering {subject}: {e.code} {e.read().decode(errors='replace')}")


def main():
    base, root = sys.argv[1].rstrip("/"), Path(sys.argv[2])
    wait_ready(base)
    for path in sorted(root.glob("*/*.avsc")):
        if path.parent.name == "murron":
            continue  # the envelope is the wire contract, not an event type
        subject = f"{path.parent.name}.{path.stem}"
        print(f"{subject}: id {register(base, subject, path.read_text())}", flush=True)


if __name__ == "__main__":
    main()
