"""Writes the JSON schemas kubeconform validates against, from sources fetched through the Go module
proxy: Kubernetes' OpenAPI document (k8s.io/kubernetes, api/openapi-spec/swagger.json) and CRDs
(KEDA's ScaledObject). One file per kind, named as kubeconform looks them up
({kind}-{group}-{version}.json), each holding only the definitions it reaches, made strict: an object
with declared properties accepts no others, as the API server does.

usage: schemas.py OUT_DIR --openapi swagger.json [--crd crd.yaml ...]
"""

import argparse
import json
import sys
from pathlib import Path

import yaml

INT_OR_STRING = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
# resource.Quantity is a string in the document, but manifests may write `cpu: 1`.
QUANTITY = {"anyOf": [{"type": "number"}, {"type": "string"}]}


def strict(node):
    """Closes every object schema that lists its properties, and spells out int-or-string."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("format") == "int-or-string" or node.get("x-kubernetes-int-or-string"):
        rest = {k: v for k, v in node.items() if k not in ("type", "format", "x-kubernetes-int-or-string")}
        return {**rest, **INT_OR_STRING}
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions") and isinstance(value, dict):
            # A map of names to schemas, not a schema: close each schema, never the map.
            out[key] = {name: strict(schema) for name, schema in value.items()}
        else:
            out[key] = strict(value)
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def file_name(group, version, kind):
    suffix = f"-{group.split('.')[0].lower()}" if group else ""
    return f"{kind.lower()}{suffix}-{version.lower()}.json"


def reachable(definitions, root):
    """Names of the definitions `root` refers to, directly or not."""
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        stack = [definitions[name]]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/definitions/"):
                    todo.append(ref.removeprefix("#/definitions/"))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return seen


def from_openapi(path, out):
    definitions = json.loads(Path(path).read_text())["definitions"]
    quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity"
    if quantity in definitions:
        definitions[quantity] = {**QUANTITY, "description": definitions[quantity].get("description", "")}
    written = 0
    for name, schema in definitions.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            keep = reachable(definitions, name)
            document = {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "$ref": f"#/definitions/{name}",
                "definitions": {n: strict(definitions[n]) for n in sorted(keep)},
            }
            (out / file_name(gvk["group"], gvk["version"], gvk["kind"])).write_text(json.dumps(document))
            written += 1
    return written


def from_crd(path, out):
    written = 0
    for crd in yaml.safe_load_all(Path(path).read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            schema["$schema"] = "http://json-schema.org/draft-07/schema#"
            (out / file_name(group, version["name"], kind)).write_text(json.dumps(schema))
            written += 1
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--openapi", required=True)
    parser.add_argument("--crd", action="append", default=[])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    count = from_openapi(args.openapi, args.out)
    for crd in args.crd:
        count += from_crd(crd, args.out)
    print(f"{count} schemas in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
