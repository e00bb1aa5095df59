"""The production path with nothing seeded, as an operator and a CRM take it, over real processes:
`switchboard serve` on PostgreSQL and Redis against a UniPile sandbox of its own, a CRM that mints
RS256 tokens from a JWKS it serves, accounts connected through the sandbox's hosted auth, and the
CRM's contacts imported from a file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.processes import free_port, wait_ready

ISSUER = "https://crm.example.test"
AUDIENCE = "switchboard"
KID = "crm-2026-12"
SANDBOX_KEY = "production-path-sandbox-key"
CONTACTS = 10_000

ACCOUNTS = "{ accounts { id externalId channel provider status } }"
CONNECT = """mutation($providers: [HostedAuthProvider!]) {
  connectAccount(input: {providers: $providers}) { url expiresAt error { code message } } }"""
INBOX = """{ conversations(first: 100) {
  edges { node { id externalId channel account { externalId }
    participants { identifier phoneNumber isSelf crmMatch { contact { name } } }
    storage { stored shouldStore reason } } } } }"""


@dataclass
class Crm:
    """The CRM's side: its signing key, published as a JWKS, and the tokens it mints."""

    key: rsa.RSAPrivateKey
    jwks_url: str

    def token(self, user: str, email: str, workspace: str, role: str = "member") -> str:
        now = datetime.now(UTC)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user,
            "email": email,
            "name": email.partition("@")[0].title(),
            "workspace_id": workspace,
            "workspace_name": workspace.removeprefix("crm-").title(),
            "role": role,
            "iat": now,
            "exp": now + timedelta(minutes=15),
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})


def jwks_of(key: rsa.RSAPrivateKey) -> bytes:
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()


@pytest.fixture
def crm() -> Iterator[Crm]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = jwks_of(key)

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test's output is its assertions."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Crm(key, f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json")
    finally:
        server.shutdown()
        server.server_close()


class Processes:
    """Child processes of one test, stopped with their process groups at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, arguments: list[str], environment: dict[str, str]) -> Path:
        log = self.logs / f"{name}.log"
        with log.open("wb") as output:
            self.running.append(
                subprocess.Popen(
                    [sys.executable, "-m", "server.cli", *arguments],
                    env=environment,
                    stdout=output,
                    stderr=output,
                    start_new_session=True,
                )
            )
        return log

    def stop(self) -> None:
        for process in self.running:
            os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@dataclass
class Deployment:
    """A production deployment: its URL, its environment (for the operator's commands) and the
    sandbox standing in for UniPile."""

    url: str
    sandbox: str
    environment: dict[str, str]

    def operator(self, *arguments: str) -> Any:
        """An operator's `switchboard` command, with `--json`; its parsed output."""
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", *arguments, "--json"],
            env=self.environment,
            capture_output=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr.decode()
        return json.loads(done.stdout)

    def query(self, token: str, query: str, **variables: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, token: str, query: str, **variables: Any) -> dict[str, Any]:
        body = self.query(token, query, **variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
def deployment(database: str, redis_url: str, crm: Crm, tmp_path: Path) -> Iterator[Deployment]:
    port, sandbox_port = free_port(), free_port()
    url, sandbox = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    environment = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "UNIPILE_DSN": sandbox,
        "UNIPILE_API_KEY": SANDBOX_KEY,
        "JWT_SECRET": "j" * 40,
        "WEBHOOK_SECRET": "w" * 40,
        "PORT": str(port),
        "PUBLIC_URL": url,
        "DATA_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
        "CRM_JWT_ISSUER": ISSUER,
        "CRM_JWT_AUDIENCE": AUDIENCE,
        "CRM_JWKS_URL": crm.jwks_url,
    }
    processes = Processes(tmp_path)
    try:
        sandbox_log = processes.start(
            "sandbox",
            ["sandbox", "--port", str(sandbox_port), "--api-key", SANDBOX_KEY],
            environment,
        )
        wait_for_sandbox(sandbox, sandbox_log)
        wait_ready(url, processes.start("serve", ["serve"], environment))
        yield Deployment(url, sandbox, environment)
    finally:
        processes.stop()


def wait_for_sandbox(sandbox: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{sandbox}/api/v1/accounts", headers={"X-API-KEY": SANDBOX_KEY}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the sandbox did not start: {log.read_text()[-2000:]}")


def connect(deployment: Deployment, token: str, provider: str) -> str:
    """A user connects an account through UniPile's hosted auth; its UniPile id once attached."""
    before = {a["externalId"] for a in deployment.data(token, ACCOUNTS)["accounts"]}
    link = deployment.data(token, CONNECT, providers=[provider])["connectAccount"]
    assert link["error"] is None, link
    visited = httpx.post(link["url"], json={"provider": provider}, timeout=30)
    assert visited.status_code == 200, visited.text
    account_id = str(visited.json()["account_id"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = {a["externalId"] for a in deployment.data(token, ACCOUNTS)["accounts"]}
        if account_id in now - before:
            return account_id
        time.sleep(0.2)
    raise AssertionError(f"the callback never attached {account_id}")


def contacts_file(path: Path, identifiers: list[tuple[str, str]]) -> Path:
    """The CRM's export: a contact for each given participant, then people of no conversation."""
    with path.open("w", encoding="utf-8") as lines:
        for number, (kind, value) in enumerate(identifiers):
            record = {
                "externalId": f"crm-contact-{number}",
                "firstName": "Matched",
                "lastName": f"Person {number}",
                kind: [value],
            }
            lines.write(json.dumps(record) + "\n")
        for number in range(len(identifiers), CONTACTS):
            record = {
                "externalId": f"crm-contact-{number}",
                "firstName": "Other",
                "lastName": f"Person {number}",
                "emails": [f"other{number}@example.org"],
            }
            lines.write(json.dumps(record) + "\n")
    return path


def participants_to_match(inbox: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Some other people of the inbox, by identifier: the CRM's field and value that match them
    (a WhatsApp participant by their phone number, a mail one by their address)."""
    found: dict[str, tuple[str, str]] = {}
    for edge in inbox["conversations"]["edges"]:
        for participant in edge["node"]["participants"]:
            if participant["isSelf"]:
                continue
            if participant["phoneNumber"]:
                found[participant["identifier"]] = ("phones", participant["phoneNumber"])
            elif edge["node"]["channel"] == "EMAIL":
                found[participant["identifier"]] = ("emails", participant["identifier"])
    return dict(list(found.items())[:40])


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_an_operator_and_a_crm_bring_a_workspace_to_life(
    deployment: Deployment, crm: Crm, tmp_path: Path
) -> None:
    acme = deployment.operator(
        "workspaces", "create", "--name", "Acme", "--slug", "acme", "--external-id", "crm-acme"
    )
    assert acme["slug"] == "acme"
    deployment.operator(
        "users",
        "create",
        "--workspace",
        "acme",
        "--email",
        "ops@acme.test",
        "--name",
        "Ops",
        "--role",
        "admin",
    )
    admin_token = deployment.operator("token", "--email", "ops@acme.test")["token"]
    assert deployment.data(admin_token, ACCOUNTS) == {"accounts": []}

    sam = crm.token("u-sam", "sam@acme.test", "crm-acme")
    viewer = deployment.data(sam, "{ viewer { user { email } workspace { name } } }")["viewer"]
    assert viewer == {"user": {"email": "sam@acme.test"}, "workspace": {"name": "Acme"}}

    whatsapp = connect(deployment, sam, "WHATSAPP")
    gmail = connect(deployment, sam, "GOOGLE")
    inbox = deployment.data(sam, INBOX)
    accounts_shown = {e["node"]["account"]["externalId"] for e in inbox["conversations"]["edges"]}
    assert accounts_shown == {whatsapp, gmail}
    assert all(not e["node"]["storage"]["shouldStore"] for e in inbox["conversations"]["edges"]), (
        "nothing matches a CRM that holds no contacts yet"
    )

    matched = participants_to_match(inbox)
    assert len(matched) >= 10
    summary = deployment.operator(
        "crm",
        "import",
        str(contacts_file(tmp_path / "contacts.jsonl", list(matched.values()))),
        "--workspace",
        "acme",
        "--kind",
        "contacts",
    )
    assert (summary["created"], summary["rejected"], summary["rejections"]) == (CONTACTS, 0, [])

    inbox = deployment.data(sam, INBOX)
    names = {
        participant["identifier"]: participant["crmMatch"]["contact"]["name"]
        for edge in inbox["conversations"]["edges"]
        for participant in edge["node"]["participants"]
        if participant["crmMatch"] and participant["crmMatch"]["contact"]
    }
    assert set(names) == set(matched)
    assert all(name.startswith("Matched Person") for name in names.values())
    email_matches = [
        edge["node"]["storage"]
        for edge in inbox["conversations"]["edges"]
        if edge["node"]["channel"] == "EMAIL"
        and any(p["identifier"] in names for p in edge["node"]["participants"])
    ]
    assert email_matches and all(storage["shouldStore"] for storage in email_matches)

    deployment.operator(
        "workspaces",
        "create",
        "--name",
        "Globex",
        "--slug",
        "globex",
        "--external-id",
        "crm-globex",
    )
    gia = crm.token("u-gia", "gia@globex.test", "crm-globex")
    assert deployment.data(gia, ACCOUNTS) == {"accounts": []}
    assert deployment.data(gia, "{ contacts(first: 5) { edges { node { id } } } }") == {
        "contacts": {"edges": []}
    }
    seen = deployment.data(
        gia,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        ids=[edge["node"]["id"] for edge in inbox["conversations"]["edges"][:20]],
    )
    assert seen == {"nodes": [None] * 20}
    own = connect(deployment, gia, "WHATSAPP")
    theirs = deployment.data(gia, INBOX)["conversations"]["edges"]
    assert theirs and {e["node"]["account"]["externalId"] for e in theirs} == {own}
    assert not any(
        (p["crmMatch"] or {}).get("contact") for e in theirs for p in e["node"]["participants"]
    ), "the first workspace's contacts match nothing of the second's"
