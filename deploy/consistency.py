"""Cross-file checks of deploy/ that the generic tools cannot make (run by deploy/check.sh).

- Kubernetes: every $(VAR) in args has an env entry; every ConfigMap key referenced exists; no Secret
  object carries data; a non-loopback --http comes with --api-token-file, and that file is projected
  from a Secret; probes: startup and liveness on /healthz, readiness on /readyz;
  terminationGracePeriodSeconds > --shutdown-timeout; the NetworkPolicy selects the engine pods.
- Compose: every engine binding a non-loopback address has --api-token-file /run/secrets/NAME with
  NAME among its secrets and defined at the top level; stop_grace_period > --shutdown-timeout; the
  default PostgreSQL URL names an sslmode.
- Dockerfile: the default CMD binds 0.0.0.0 with --api-token-file.

Prints one line per problem and a summary line; exit status 1 if there is a problem.
"""
import glob
import json
import re
import sys

import yaml

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def flag(args, name):
    """The value after flag `name` in an argument list, or None."""
    for i, a in enumerate(args[:-1]):
        if a == name:
            return str(args[i + 1])
    return None


def loopback(address):
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def seconds(value):
    m = re.fullmatch(r"(\d+)(s?)", str(value).strip())
    return int(m.group(1)) if m else None


# ---- Kubernetes --------------------------------------------------------------------------------
docs = []
for path in sorted(glob.glob("deploy/k8s/*.yaml")):
    with open(path) as f:
        docs += [(path, d) for d in yaml.safe_load_all(f) if d]
by_kind = {}
for path, d in docs:
    by_kind.setdefault(d["kind"], []).append((path, d))

for path, d in by_kind.get("Secret", []):
    if d.get("data") or d.get("stringData"):
        problem(path, f"Secret {d['metadata']['name']} carries data: create Secrets with kubectl, not from the repository")

config = {}
for _, d in by_kind.get("ConfigMap", []):
    config[d["metadata"]["name"]] = d.get("data", {})

for path, dep in by_kind.get("Deployment", []):
    pod = dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    c = pod["containers"][0]
    env = {e["name"]: e for e in c.get("env", [])}
    args = [str(a) for a in c.get("args", [])]

    def resolve(value):
        """Substitutes $(VAR) from env entries (ConfigMap keys resolved to their values)."""
        def one(m):
            e = env.get(m.group(1))
            ref = (e or {}).get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                return str(config.get(ref["name"], {}).get(ref["key"], m.group(0)))
            return m.group(0)
        return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, value)

    for a in args:
        for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a):
            if var not in env:
                problem(path, f"args use $({var}) but env defines no {var} (it would be passed literally)")
    for e in env.values():
        ref = e.get("valueFrom", {}).get("configMapKeyRef")
        if ref and ref["key"] not in config.get(ref["name"], {}):
            problem(path, f"env {e['name']}: ConfigMap {ref['name']} has no key {ref['key']}")

    http = resolve(flag(args, "--http") or "127.0.0.1:8080")
    token = flag(args, "--api-token-file")
    if not loopback(http) and not token:
        problem(path, f"--http {http} is not loopback but there is no --api-token-file (the engine would refuse to start)")
    if token:
        # The token file must come from a Secret volume mounted at its directory.
        found = False
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        for m in c.get("volumeMounts", []):
            prefix = m["mountPath"].rstrip("/") + "/"
            if not token.startswith(prefix):
                continue
            rel = token[len(prefix):]
            v = vols.get(m["name"], {})
            sources = [s["secret"] for s in v.get("projected", {}).get("sources", []) if "secret" in s]
            if "secret" in v:
                sources.append(v["secret"])
            for s in sources:
                items = s.get("items")
                if items is None or any(i["path"] == rel for i in items):
                    found = True
        if not found:
            problem(path, f"--api-token-file {token} is not a file of a mounted Secret volume")

    for probe, want in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        got = c.get(probe, {}).get("httpGet", {}).get("path")
        if got != want:
            problem(path, f"{probe} is on {got}, expected {want}")

    timeout = seconds(resolve(flag(args, "--shutdown-timeout") or "30"))
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if timeout is None or grace <= timeout:
        problem(path, f"terminationGracePeriodSeconds {grace} must exceed --shutdown-timeout {timeout}")
    if pod.get("automountServiceAccountToken") is not False:
        problem(path, "automountServiceAccountToken must be false (the engine does not use the Kubernetes API)")

    policies = [d for _, d in by_kind.get("NetworkPolicy", [])
                if d["metadata"].get("namespace") == dep["metadata"].get("namespace")
                and all(labels.get(k) == v for k, v in d["spec"]["podSelector"].get("matchLabels", {}).items())]
    if not policies:
        problem(path, "no NetworkPolicy selects the engine pods")

# ---- docker compose ----------------------------------------------------------------------------
compose_path = "deploy/docker-compose.yml"
with open(compose_path) as f:
    compose = yaml.safe_load(f)
top_secrets = compose.get("secrets", {})
engines = 0
for name, svc in compose["services"].items():
    cmd = svc.get("command")
    if not isinstance(cmd, list) or not cmd or cmd[0] != "run":
        continue
    engines += 1
    cmd = [str(a) for a in cmd]
    http = flag(cmd, "--http") or "127.0.0.1:8080"
    token = flag(cmd, "--api-token-file")
    if not loopback(http):
        secret = token[len("/run/secrets/"):] if token and token.startswith("/run/secrets/") else None
        mounted = [s if isinstance(s, str) else s.get("source") for s in svc.get("secrets", [])]
        if not secret or secret not in mounted or secret not in top_secrets:
            problem(compose_path, f"{name}: --http {http} needs --api-token-file /run/secrets/NAME with NAME a compose secret of the service")
    timeout = seconds(flag(cmd, "--shutdown-timeout") or "30")
    grace = seconds(svc.get("stop_grace_period", "10s"))
    if grace is None or timeout is None or grace <= timeout:
        problem(compose_path, f"{name}: stop_grace_period {svc.get('stop_grace_period')} must exceed --shutdown-timeout {timeout}")
    store = flag(cmd, "--store") or ""
    if "postgres" in store and "sslmode=" not in store:
        problem(compose_path, f"{name}: the PostgreSQL URL names no sslmode")
if engines == 0:
    problem(compose_path, "no engine service (command: [run, ...]) found")

# ---- Dockerfile --------------------------------------------------------------------------------
with open("deploy/Dockerfile") as f:
    cmds = [line[4:] for line in f.read().splitlines() if line.startswith("CMD ")]
if not cmds:
    problem("deploy/Dockerfile", "no CMD")
else:
    cmd = json.loads(cmds[-1])
    http = flag(cmd, "--http") or "127.0.0.1:8080"
    if not loopback(http) and not flag(cmd, "--api-token-file"):
        problem("deploy/Dockerfile", f"CMD binds {http} without --api-token-file")

for p in problems:
    print(p)
checked = len(by_kind.get("Deployment", [])) + engines + 1
if problems:
    print(f"{len(problems)} problems")
    sys.exit(1)
print(f"{checked} engine definitions consistent (k8s, compose, Dockerfile)")
