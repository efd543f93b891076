"""The help of every task's flags (`./inv --help TASK`), kept apart from tasks.py so
that file stays the list of tasks. A flag that several tasks share is written once."""

PROJECT = "Compose project name (default: ecotrack-<env>)"
HOST = "Docker host, e.g. ssh://user@host (default: DOCKER_HOST or local)"
MANIFEST = "manifest file (default: gitops/versions/<env>.json)"

UP = {
    "env": "environment: local, the only one `up` runs (default: local)",
    "port": "port of the proxy's plain HTTP entry point on 127.0.0.1 (default: 8080)",
    "tls_port": "port of the proxy's HTTPS entry point on 127.0.0.1 (default: 8443; "
    "0: any free port)",
    "internal_port": "port of the proxy's internal listener (stats, metrics, "
    "readiness reasons) on 127.0.0.1 (default: 8081; 0: any free port)",
    "project": PROJECT,
    "manifest": "the local manifest file (default: gitops/versions/local.json)",
}

DOCTOR = {
    "profile": "what to check for: test (default: the suite's needs), bench, up, "
    "build, fleet, engine or pants",
    "json": "print the checks as JSON (exit 0 ready, 1 not)",
}

DOWN = {
    "env": "environment (default: local)",
    "project": PROJECT,
    "volumes": "also delete the data volumes",
}

GRAPH = {"write": "rewrite the graph block in README.md instead of printing it"}

MODULE_MAP = {
    "write": "rewrite the map in build-support/release/README.md instead of "
    "printing it"
}

CLI_REFERENCE = {
    "write": "rewrite docs/reference/cli.md and exit-codes.md instead of checking"
}

NEW_SERVICE = {"name": "the service's name: lowercase letters and digits, e.g. billing"}

BENCH = {
    "names": "comma-separated: loadgen,rollout,change_to_live,affected (default), "
    "publish, gitops, fleet, cache, heal, stalls, walk",
    "args": "arguments for the one bench named, e.g. --args='--rates 120,300' "
    "(its --help lists them)",
}

TEST = {
    "unit_only": "skip the end-to-end tests (no Docker needed)",
    "e2e_only": "run only the end-to-end tests",
    "pytest_args": "extra arguments for the end-to-end pytest run, quoted as in a "
    "shell, e.g. \"-k 'proxy or drift'\"",
}

AFFECTED = {
    "since": "git ref to compare with: changes since its merge-base with HEAD",
    "committed_only": "ignore uncommitted and untracked files",
    "json": "print the GitHub Actions matrix (include, deploy_only, test_only)",
    "explain": "print why each service is affected, and why other files are not",
}

PUBLISH = {
    "since": "publish the services affected since this git ref",
    "service": "publish this service (repeatable); default: the services changed "
    "since the commit the environment's manifest records for them",
    "registry": "local (default: docker-registry on 127.0.0.1:5000) or ecr",
    "env": "manifest to record in: local (default, not committed), staging, prod",
    "json": "print the result as JSON (progress goes to stderr)",
    "release_out": "write one release record per service (<dir>/<service>.json) "
    "instead of recording: manifest and git stay as they are; apply them later "
    "with ./inv record (CI's fan-in job)",
}

RECORD = {
    "records": "a release record file, or a directory of them (*.json, searched "
    "recursively), as written by ./inv publish --release-out",
    "env": "manifest to record in: staging, prod or local (required)",
    "json": "print what was recorded and skipped, and the commit, as JSON",
}

PROMOTE = {
    "from_": "environment whose digests to copy (default: staging)",
    "env": "environment to record them in, e.g. prod (required)",
    "service": "promote only this service (repeatable; default: all)",
    "dry_run": "list what would be re-tagged and committed, change nothing: exit 3 "
    "when something would change, 0 when nothing",
    "json": "print the result as JSON",
}

HISTORY = {
    "env": "only this environment (default: staging and prod)",
    "service": "only this service (repeatable: any of them)",
    "json": "print the events as JSON",
}

ROLLBACK = {
    "env": "environment: staging or prod, the ones kept in git (required)",
    "service": "the service to roll back (one)",
    "to": "the earlier version to restore",
    "steps": "how many releases back (default: 1)",
    "no_deploy": "only write the manifest commit; do not deploy it",
    "dry_run": "show the entry it would restore and the commit, change nothing, "
    "deploy nothing: exit 3, or 0 when already on it",
    "json": "print the result as JSON, the deploy's nested in it as deploy",
    "host": HOST,
    "project": PROJECT,
}

DEPLOY = {
    "env": "environment whose manifest to deploy (default: local)",
    "service": "deploy only this service (repeatable; waste includes waste-worker)",
    "dry_run": "print the plan only: exit 3 when there are changes, 0 in sync "
    "(not with --canary)",
    "host": HOST,
    "json": "print the result as JSON on stdout (progress goes to stderr)",
    "parallel": "roll up to N services side by side, each API still before its "
    "worker (default 0: one lane per two local CPUs, at most 4, fewer on a busy "
    "host, 1 for a remote engine; 1: one after another)",
    "health_timeout": "seconds new containers get to turn healthy (default: 120)",
    "project": PROJECT,
    "manifest": MANIFEST,
    "port": "proxy port when the proxy is (re)created (default: as it runs)",
    "hosts_file": "another hosts file, a fleet or a Swarm (default: the environment's "
    "gitops/environments/<env>/hosts.yaml, when it has one)",
    "canary": "canary first: start this many new replicas of the one --service "
    "beside the old, watch them, then promote or abort (exit 3)",
    "canary_window": "seconds to watch the canary (default: 60)",
    "max_error_rate": "canary aborts above this share of failed requests "
    "(default: 0.01)",
    "force": "take the deploy lock at once even from a live holder (printed as a "
    "warning naming it; that deploy stops at its next step); not a lock hold",
    "lock_lease": "seconds the deploy lock lasts when this deploy stops renewing it "
    "(killed, paused, cut off); renewed every third of it (default: 60)",
}

LOCK = {
    "action": "status (who holds it, since when, for what), hold (keep deploys "
    "out, with -m) or release",
    "env": "environment (default: local)",
    "message": "why the lock is held (lock hold only), e.g. -m 'incident 42'",
    "project": PROJECT,
    "host": HOST,
    "hosts_file": "another hosts file (default: the environment's hosts.yaml): "
    "the lock is on a fleet's first host, a Swarm's manager",
    "json": "print the lock as JSON",
}

DRIFT = {
    "env": "environment whose manifest to compare with the host (default: local)",
    "json": "print the findings as JSON",
    "project": PROJECT,
    "host": HOST,
    "manifest": MANIFEST,
    "hosts_file": "another hosts file, a fleet or a Swarm (default: the environment's "
    "gitops/environments/<env>/hosts.yaml, when it has one)",
}

AGENT = {
    "env": "environment whose manifest the agent keeps deployed (default: local)",
    "repo": "the GitOps repository to watch: a path or a git URL",
    "branch": "branch to follow (default: main)",
    "interval": "seconds between two looks at the branch and the host " "(default: 30)",
    "self_heal": "also repair drift (stopped, missing, changed containers)",
    "listen": "HOST:PORT of /status, /metrics and the dashboard "
    "(default: 127.0.0.1:8790; '' for none)",
    "once": "one pass, then exit (1 if it failed)",
    "project": PROJECT,
    "host": HOST,
    "health_timeout": "seconds new containers get to turn healthy (default: 120)",
    "state_dir": "where the agent keeps its clone and state "
    "(default: ~/.local/state/ecotrack/agent/<project>)",
    "hosts_file": "a hosts file for a fleet (default: the environment's "
    "gitops/environments/<env>/hosts.yaml in the watched repository, if any)",
    "token_file": "a file holding the bearer token /status, /metrics and the "
    "dashboard require (default: none on loopback; off loopback one generated into "
    "<state dir>/http.token)",
}

CACHE = {
    "action": "up (start the BuildGrid cache server), down (stop it, data kept), "
    "status (address, CAS size, hit rate; exit 5 when stopped) or rotate (new "
    "secret and tokens: the old tokens are refused; a running server restarts)",
    "bind": "address the cache server listens on (default: 127.0.0.1; any other "
    "needs --tls-cert and --tls-key)",
    "port": "gRPC port (default: 50051)",
    "data_dir": "the cache's directory: config, tokens, CAS, log "
    "(default: ~/.local/state/ecotrack/cache)",
    "max_refs": "action cache entries kept, least recently used evicted "
    "(default: 200000)",
    "json": "with status: print it as JSON",
    "tls_cert": "PEM certificate of the server: the cache serves gRPC over TLS "
    "(grpcs://)",
    "tls_key": "PEM private key of --tls-cert",
    "token_days": "lifetime of the tokens up and rotate mint, at most 7 "
    "(default: 3); up renews a token with less than a day left",
}

FLEET = {
    "action": "up (create the fleet, or keep the one that is up), down (remove "
    "everything it made) or status (exit 0 healthy, 1 broken, 5 none)",
    "count": "how many hosts `up` creates, 1 to 9 (default: 3)",
    "front_port": "the front HAProxy's port on 127.0.0.1 (default: 8090)",
    "proxy_port": "the port every host's proxy publishes inside its namespace: "
    "pass it to ./inv deploy --port (default: 8080)",
    "registry_port": "the local registry's port on 127.0.0.1, reachable inside "
    "every host (default: ECOTRACK_REGISTRY_PORT or 5000)",
    "batch_size": "batch_size in the hosts.yaml it writes (default: 1)",
    "json": "with status: print it as JSON",
}

AUDIT = {
    "env": "environment whose deploy log to show (default: local)",
    "hosts_file": "another hosts file, a fleet or a Swarm (default: the environment's "
    "gitops/environments/<env>/hosts.yaml, when it has one)",
    "host": HOST,
    "project": PROJECT,
    "service": "only the deploys of this service (repeatable: any of them)",
    "limit": "show the newest N entries (default: 20)",
    "json": "print the entries as JSON on stdout (notes go to stderr)",
}

STATUS = {
    "env": "environment to report on (default: local)",
    "hosts_file": "another hosts file, a fleet or a Swarm (default: the environment's "
    "gitops/environments/<env>/hosts.yaml, when it has one)",
    "host": HOST,
    "project": PROJECT,
    "manifest": MANIFEST,
    "json": "print the status as JSON on stdout (notes go to stderr)",
}
