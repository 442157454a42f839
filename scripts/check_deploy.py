#!/usr/bin/env python3
"""Static checks of the deployment artefacts (run by scripts/check-deploy.sh).

- The Helm chart lints (strict) and renders with the default values and with
  helm/hookline/ci/production-values.yaml, through helm-python-sdk (Helm's Go SDK, no helm
  binary), and values.schema.json refuses bad values.
- Every rendered manifest passes kubernetes-validate (strict: unknown fields fail) for
  Kubernetes KUBE_VERSION. The CRDs it has no schema for (ServiceMonitor, PrometheusRule,
  KEDA ScaledObject) are checked structurally here instead.
- The chart's promises: a Deployment per service with probes on /healthz and /readyz, the
  restricted security context, terminationGracePeriodSeconds above the drain timeout, a PDB
  each, no Secret rendered, autoscalers pointing at rendered Deployments.
- The alert rules and the dashboard in deploy/ and in the chart are identical, the dashboard
  is valid JSON, the Compose file parses and has every service.
"""

import json
import pathlib
import sys

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "hookline"
KUBE_VERSION = "1.34.0"
SERVICES = ["ingest", "enrich", "delivery", "api"]
# Custom resources kubernetes-validate ships no schema for, checked by check_custom() below.
CUSTOM = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("keda.sh/v1alpha1", "ScaledObject"),
}

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}")


def rendered_docs(values, label):
    chart = helm.Chart.load(str(CHART))
    chart.validate_schema(values)
    manifests = chart.render(values, name="hookline", namespace="hookline", is_install=True)
    docs = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.append((path, doc))
    print(f"  {label}: {len(docs)} manifests from {len(manifests)} templates")
    return docs


def lint(values, label):
    report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBE_VERSION}")
    bad = [m for m in report.get("messages", []) if m["severity"] >= 2] + [
        {"path": "", "error": e} for e in report.get("errors") or []
    ]
    for m in bad:
        fail(f"helm lint ({label}): {m['path']}: {m['error']}")
    print(f"  helm lint ({label}): {len(bad)} warnings/errors")


def check_custom(doc, names):
    kind, spec = doc["kind"], doc.get("spec") or {}
    name = doc.get("metadata", {}).get("name")
    if not name:
        fail(f"{kind} without metadata.name")
    if kind == "ServiceMonitor":
        eps = spec.get("endpoints") or []
        if not eps or any(e.get("port") != "admin" or e.get("path") != "/metrics" for e in eps):
            fail(f"ServiceMonitor {name}: endpoints must scrape port admin, /metrics")
        if not spec.get("selector", {}).get("matchLabels"):
            fail(f"ServiceMonitor {name}: no selector")
    elif kind == "PrometheusRule":
        groups = spec.get("groups") or []
        rules = [r for g in groups for r in g.get("rules", [])]
        if not rules:
            fail(f"PrometheusRule {name}: no rules")
        for r in rules:
            if not r.get("alert") or not r.get("expr") or not r.get("annotations", {}).get("summary"):
                fail(f"PrometheusRule {name}: rule {r.get('alert')} lacks alert, expr or summary")
    elif kind == "ScaledObject":
        target = spec.get("scaleTargetRef", {}).get("name")
        if ("Deployment", target) not in names:
            fail(f"ScaledObject {name}: target {target} is not a rendered Deployment")
        for t in spec.get("triggers") or []:
            md = t.get("metadata", {})
            if t.get("type") != "kafka" or not md.get("consumerGroup") or not md.get("bootstrapServers"):
                fail(f"ScaledObject {name}: trigger needs type kafka, bootstrapServers, consumerGroup")
        if not spec.get("triggers"):
            fail(f"ScaledObject {name}: no triggers")


def check_docs(docs, label, values):
    names = {(d["kind"], d["metadata"]["name"]) for _, d in docs}
    validated = custom = 0
    for path, doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key in CUSTOM:
            check_custom(doc, names)
            custom += 1
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            validated += 1
        except kubernetes_validate.ValidationError as e:
            fail(f"{label}: {path}: {doc['kind']} {doc['metadata'].get('name')}: {e.message} at {list(e.path)}")
        except kubernetes_validate.SchemaNotFoundError as e:
            fail(f"{label}: {path}: no schema for {key}: {e}")
    print(f"  {label}: {validated} validated by kubernetes-validate {KUBE_VERSION} (strict), {custom} custom resources checked structurally")

    merged = helm.Chart.load(str(CHART)).merge_values(values)
    drain = int(merged["config"]["drainTimeoutSecs"])
    if any(d["kind"] == "Secret" for _, d in docs):
        fail(f"{label}: the chart renders a Secret (secrets come only from existing Secrets)")
    deployments = {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "Deployment"}
    pdbs = {d["metadata"]["name"] for _, d in docs if d["kind"] == "PodDisruptionBudget"}
    for svc in SERVICES:
        name = f"hookline-{svc}"
        dep = deployments.get(name)
        if not dep:
            fail(f"{label}: no Deployment {name}")
            continue
        if name not in pdbs:
            fail(f"{label}: no PodDisruptionBudget for {name}")
        pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        if c.get("args") != ["run", "--services", svc]:
            fail(f"{label}: {name} runs {c.get('args')}")
        if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
            fail(f"{label}: {name}: liveness probe is not /healthz")
        if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
            fail(f"{label}: {name}: readiness probe is not /readyz")
        if not c.get("resources", {}).get("requests"):
            fail(f"{label}: {name}: no resource requests")
        psc, sc = pod.get("securityContext", {}), c.get("securityContext", {})
        if not psc.get("runAsNonRoot") or sc.get("allowPrivilegeEscalation") is not False or not sc.get("readOnlyRootFilesystem") or "ALL" not in sc.get("capabilities", {}).get("drop", []):
            fail(f"{label}: {name}: security context is not restricted")
        if pod.get("terminationGracePeriodSeconds", 30) <= drain:
            fail(f"{label}: {name}: terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds')} is not above the drain timeout {drain}")
    for _, d in docs:
        if d["kind"] == "HorizontalPodAutoscaler" and d["spec"]["scaleTargetRef"]["name"] not in deployments:
            fail(f"{label}: HPA {d['metadata']['name']} targets no rendered Deployment")
    jobs = [d for _, d in docs if d["kind"] == "Job"]
    if merged["topics"]["create"] and not any(
        "pre-install" in j["metadata"].get("annotations", {}).get("helm.sh/hook", "") and j["spec"]["template"]["spec"]["containers"][0]["args"] == ["topics"]
        for j in jobs
    ):
        fail(f"{label}: no pre-install hook Job running `hookline topics`")


def check_schema_refuses():
    chart = helm.Chart.load(str(CHART))
    bad_values = {
        "a SASL password in kafka.options": {"kafka": {"options": ["sasl.password=hunter2"]}},
        "an unknown top-level key": {"kafkaa": {}},
        "a Redis URL with credentials": {"redis": {"url": "redis://:pw@redis:6379"}},
        "zero partitions": {"topics": {"partitions": 0}},
        "an unknown SASL mechanism": {"kafka": {"saslMechanism": "GSSAPI2"}},
    }
    for what, values in bad_values.items():
        try:
            chart.validate_schema(values)
            fail(f"values.schema.json accepts {what}")
        except helm.HelmValuesError:
            pass
    print(f"  values.schema.json refuses {len(bad_values)} kinds of bad values")


def check_files():
    pairs = [
        (ROOT / "deploy/prometheus/alerts.yml", CHART / "files/alerts.yml"),
        (ROOT / "deploy/grafana/dashboards/hookline.json", CHART / "files/hookline-dashboard.json"),
    ]
    for a, b in pairs:
        if a.read_bytes() != b.read_bytes():
            fail(f"{a.relative_to(ROOT)} and {b.relative_to(ROOT)} differ (keep them identical)")
    dash = json.loads((ROOT / "deploy/grafana/dashboards/hookline.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    if not exprs:
        fail("the dashboard has no queries")
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    need = {"kafka", "redis", "prometheus", "grafana", "receiver", "topics"} | {f"hookline-{s}" for s in SERVICES}
    missing = need - set(compose.get("services", {}))
    if missing:
        fail(f"deploy/compose.yaml lacks services {sorted(missing)}")
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"] for j in prom.get("scrape_configs", [])}
    if not {f"hookline-{s}" for s in SERVICES} <= jobs:
        fail("deploy/prometheus/prometheus.yml does not scrape every service")
    print(f"  deploy/: rules and dashboard identical to the chart's, dashboard has {len(exprs)} queries, compose has {len(compose['services'])} services")


def check_redis_cluster():
    """redis.clusterNodes reaches every service as HOOKLINE_REDIS_CLUSTER_NODES, with the
    password of redis.existingSecret in each node's URL when there is one."""
    nodes = ["redis://redis-0.redis:6379", "redis://redis-1.redis:6379"]
    cases = [
        ({"redis": {"clusterNodes": nodes}}, ",".join(nodes)),
        (
            {"redis": {"clusterNodes": nodes, "existingSecret": "hookline-redis"}},
            ",".join(n.replace("redis://", "redis://:$(HOOKLINE_REDIS_PASSWORD)@") for n in nodes),
        ),
    ]
    for values, want in cases:
        label = "redis cluster values" + (" with a Secret" if "existingSecret" in values["redis"] else "")
        docs = [d for _, d in rendered_docs(values, label)]
        config = {}
        for d in docs:
            if d["kind"] == "ConfigMap":
                config.update(d.get("data") or {})
        for d in docs:
            if d["kind"] != "Deployment":
                continue
            env = {e["name"]: e.get("value") for e in d["spec"]["template"]["spec"]["containers"][0].get("env") or []}
            got = env.get("HOOKLINE_REDIS_CLUSTER_NODES", config.get("HOOKLINE_REDIS_CLUSTER_NODES"))
            if got != want:
                fail(f"{label}: {d['metadata']['name']} gets HOOKLINE_REDIS_CLUSTER_NODES={got!r}, not {want!r}")
    print(f"  redis.clusterNodes reaches every Deployment ({len(cases)} ways)")


def main():
    prod = yaml.safe_load((CHART / "ci/production-values.yaml").read_text())
    billion = yaml.safe_load((CHART / "ci/billion-a-day-values.yaml").read_text())
    for label, values in [("default values", None), ("production values", prod), ("README's sizing example", billion)]:
        lint(values, label)
        check_docs(rendered_docs(values, label), label, values)
    check_schema_refuses()
    check_redis_cluster()
    check_files()
    if failures:
        print(f"{len(failures)} deployment check(s) failed")
        return 1
    print("deployment checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
