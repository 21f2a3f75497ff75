"""Checks the NetworkPolicies of a rendered overlay against its pod templates, so that a renamed label
or port fails `make deploy-check` instead of cutting a component off in the cluster:

- every podSelector selects a pod, and so does each value of an `In` expression on its own (a dead
  value is a renamed label);
- every port a rule opens towards the namespace's pods is a container port of a pod it reaches;
- every pod of the namespace's policies is isolated both ways, may resolve names (53/UDP), may reach
  something else, and has each of its container ports opened by some ingress rule;
- every path between two of the namespace's pods is open at both ends: egress at the caller,
  ingress at the callee.

Peers in other namespaces and ipBlocks are outside the overlay and are not checked.

usage: kustomize build OVERLAY | policies.py     (prints a one-line summary; exits 1 on a finding)
"""

import sys

import yaml

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")


class Pod:
    """A pod template: where it runs, its labels and its container ports as (protocol, number, name)."""

    def __init__(self, owner, namespace, template):
        self.owner = owner
        self.namespace = namespace
        self.labels = template.get("metadata", {}).get("labels", {})
        spec = template.get("spec", {})
        self.ports = [
            (p.get("protocol", "TCP"), p["containerPort"], p.get("name"))
            for c in spec.get("containers", [])
            for p in c.get("ports", [])
        ]


def pods_of(docs):
    for d in docs:
        kind, meta, spec = d["kind"], d["metadata"], d.get("spec", {})
        if kind in WORKLOADS:
            template = spec.get("template")
        elif kind == "CronJob":
            template = spec.get("jobTemplate", {}).get("spec", {}).get("template")
        elif kind == "Pod":
            template = d
        else:
            continue
        if template:
            yield Pod(f"{kind}/{meta['name']}", meta.get("namespace"), template)


def selects(selector, labels):
    """Whether a LabelSelector matches a label set ({} matches everything)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        key, op, values = e["key"], e["operator"], e.get("values", [])
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[op]
        if not ok:
            return False
    return True


def single_values(selector):
    """The selector once per value of each `In` expression, so that every value must match a pod."""
    for i, e in enumerate(selector.get("matchExpressions", [])):
        if e["operator"] == "In" and len(e.get("values", [])) > 1:
            for v in e["values"]:
                exprs = list(selector["matchExpressions"])
                exprs[i] = {**e, "values": [v]}
                yield f"{e['key']}={v}", {**selector, "matchExpressions": exprs}


def allows_port(rule, port):
    """Whether a rule's `ports` let through a container port (protocol, number, name)."""
    if not rule.get("ports"):
        return True
    proto, number, name = port
    for p in rule["ports"]:
        if p.get("protocol", "TCP") != proto:
            continue
        want = p.get("port")
        if want is None or want == name:
            return True
        if isinstance(want, int) and (want == number or want <= number <= p.get("endPort", want)):
            return True
    return False


def policy_types(spec):
    """The directions a policy isolates; without policyTypes, Ingress and Egress if it has egress rules."""
    return spec.get("policyTypes") or ["Ingress"] + (["Egress"] if "egress" in spec else [])


def local_peers(rule, side):
    """The peers of a rule that are pods of the policy's namespace (podSelector without
    namespaceSelector), or None when the rule names no peer at all (everyone)."""
    peers = rule.get(side)
    if not peers:
        return None
    return [p["podSelector"] for p in peers if "podSelector" in p and "namespaceSelector" not in p]


class Check:
    def __init__(self, docs):
        self.policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
        self.pods = list(pods_of(docs))
        self.findings = []

    def fail(self, message):
        self.findings.append(message)

    def pods_in(self, namespace, selector):
        return [p for p in self.pods if p.namespace == namespace and selects(selector, p.labels)]

    def selecting(self, pod):
        """The policies that apply to `pod`."""
        for pol in self.policies:
            meta, spec = pol["metadata"], pol["spec"]
            if meta.get("namespace") == pod.namespace and selects(spec["podSelector"], pod.labels):
                yield pol

    def rules(self, pod, direction):
        """Every rule of `direction` ("ingress" or "egress") of the policies that apply to `pod`."""
        for pol in self.selecting(pod):
            yield from pol["spec"].get(direction, [])

    def open_at(self, pod, direction, other, port):
        """Whether `pod` lets `port` through in `direction` with the namespace's pod `other`."""
        side = "from" if direction == "ingress" else "to"
        for rule in self.rules(pod, direction):
            local = local_peers(rule, side)
            if allows_port(rule, port) and (local is None or any(selects(s, other.labels) for s in local)):
                return True
        return False

    def run(self):
        for pol in self.policies:
            self.check_policy(pol)
        namespaces = {pol["metadata"].get("namespace") for pol in self.policies}
        for pod in self.pods:
            if pod.namespace in namespaces:
                self.check_pod(pod)
        return self.findings

    def check_policy(self, pol):
        name, ns, spec = pol["metadata"]["name"], pol["metadata"].get("namespace"), pol["spec"]
        where = f"NetworkPolicy/{name}"
        selected = self.pods_in(ns, spec["podSelector"])
        if not selected:
            self.fail(f"{where}: podSelector {spec['podSelector']} selects no pod")
        for value, single in single_values(spec["podSelector"]):
            if not self.pods_in(ns, single):
                self.fail(f"{where}: podSelector value {value} selects no pod")
        for direction, side in (("ingress", "from"), ("egress", "to")):
            for i, rule in enumerate(spec.get(direction, [])):
                self.check_rule(f"{where} {direction}[{i}]", ns, selected, rule, direction, side)

    def check_rule(self, where, ns, selected, rule, direction, side):
        local = local_peers(rule, side) or []
        for peer in local:
            if not self.pods_in(ns, peer):
                self.fail(f"{where}: peer podSelector {peer} selects no pod")
            for value, single in single_values(peer):
                if not self.pods_in(ns, single):
                    self.fail(f"{where}: peer podSelector value {value} selects no pod")
        # The pods whose ports the rule opens: the selected ones for ingress, the local peers for egress.
        targets = selected if direction == "ingress" else [p for s in local for p in self.pods_in(ns, s)]
        if targets:
            for p in rule.get("ports", []):
                if not any(allows_port({"ports": [p]}, port) for t in targets for port in t.ports):
                    shown = f"{p.get('port')}/{p.get('protocol', 'TCP')}"
                    self.fail(f"{where}: port {shown} is no container port of the pods it reaches")
        # Both ends of a path inside the namespace.
        for peer in local:
            for other in self.pods_in(ns, peer):
                for pod in selected:
                    caller, callee = (other, pod) if direction == "ingress" else (pod, other)
                    for port in callee.ports:
                        if not allows_port(rule, port):
                            continue
                        if direction == "ingress" and not self.open_at(caller, "egress", callee, port):
                            missing = f"no egress from {caller.owner}"
                        elif direction == "egress" and not self.open_at(callee, "ingress", caller, port):
                            missing = f"no ingress at {callee.owner}"
                        else:
                            continue
                        path = f"{caller.owner} -> {callee.owner}:{port[1]}"
                        self.fail(f"{where}: {path} is open at one end only ({missing})")

    def check_pod(self, pod):
        types = {t for pol in self.selecting(pod) for t in policy_types(pol["spec"])}
        for t in ("Ingress", "Egress"):
            if t not in types:
                self.fail(f"{pod.owner}: no NetworkPolicy isolates it for {t}")
        egress = list(self.rules(pod, "egress"))
        if not any(allows_port(r, ("UDP", 53, None)) for r in egress):
            self.fail(f"{pod.owner}: may not resolve names (no egress to 53/UDP)")
        if not any(not allows_port(r, ("UDP", 53, None)) or not r.get("ports") for r in egress):
            self.fail(f"{pod.owner}: may reach nothing but DNS")
        ingress = list(self.rules(pod, "ingress"))
        for port in pod.ports:
            if not any(allows_port(r, port) for r in ingress):
                self.fail(f"{pod.owner}: container port {port[1]} ({port[2]}) is opened by no ingress rule")


def main():
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    check = Check(docs)
    findings = check.run()
    for f in findings:
        print(f)
    if findings:
        sys.exit(1)
    summary = f"{len(check.policies)} NetworkPolicies, {len(check.pods)} pod templates"
    print(f"{summary}: selectors, ports and paths agree")


if __name__ == "__main__":
    main()
