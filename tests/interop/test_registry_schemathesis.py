"""schemathesis against the registry's own OpenAPI document (`/openapi.json`): property-based
requests to every operation, valid and invalid. No answer may be a 5xx, and every status code, content
type and body must be one the document declares.

One check is left out: `positive_data_acceptance`, which expects every request that fits the
document to succeed. The document cannot say which schema text is valid Avro, which fields only
IMPORT mode takes, or which tokens and versions exist, so the registry rightly refuses many such
requests with a documented 4xx.
"""

import json
import os
import re
import subprocess
import urllib.request

from conftest import ROOT

VENV_BIN = ROOT / ".local" / "venv" / "bin"


# A JSON Schema and a Protobuf schema beside the Avro ones, so reads answer every schema type.
PERSON_JSON = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#", "title": "Person", "type": "object",
    "properties": {"id": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["id"],
})
ORDER_PROTO = """syntax = "proto3";
package murron.schemathesis;

import "google/protobuf/timestamp.proto";

message Order {
  string id = 1;
  int64 amount_cents = 2;
  google.protobuf.Timestamp at = 3;
  message Line {
    string sku = 1;
  }
  repeated Line lines = 4;
}
"""


def register(url: str, subject: str, schema: str, schema_type: str = "AVRO") -> None:
    body = json.dumps({"schema": schema, "schemaType": schema_type}).encode()
    req = urllib.request.Request(f"{url}/subjects/{subject}/versions", data=body, method="POST",
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def test_no_5xx_and_every_answer_as_documented(registry_url, tmp_path):
    # Some data to find, so that reads reach more than a 404.
    register(registry_url, "billing.member_active", (ROOT / "schemas/billing/member_active.avsc").read_text())
    register(registry_url, "client.api_call", (ROOT / "schemas/client/api_call.avsc").read_text())
    register(registry_url, "people-value", PERSON_JSON, "JSON")
    register(registry_url, "orders-value", ORDER_PROTO, "PROTOBUF")
    examples = os.environ.get("MURRON_SCHEMATHESIS_EXAMPLES", "25")
    res = subprocess.run(
        [VENV_BIN / "schemathesis", "--no-color", "run", f"{registry_url}/openapi.json",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance",
         "--max-examples", examples, "--seed", "20261127",
         "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml")],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)
    summary = res.stdout[res.stdout.find("SUMMARY"):]
    print(summary)
    assert res.returncode == 0, f"schemathesis found failures:\n{res.stdout[-20000:]}\n{res.stderr[-2000:]}"
    # Every operation of the document was exercised, and every generated case passed.
    selected = re.search(r"Selected: (\d+)/(\d+)", summary)
    tested = re.search(r"Tested: (\d+)", summary)
    cases = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert selected and tested and cases, summary
    assert selected.group(1) == selected.group(2) == tested.group(1), summary
    assert int(cases.group(1)) > 1000 and cases.group(1) == cases.group(2), summary
