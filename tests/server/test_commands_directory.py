"""The operators' command line, run for real: `main()` in process and the installed `switchboard`
in a subprocess, on SQLite and PostgreSQL, and the tokens it prints used against the served API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import jwt
import pytest
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext

from core.vocabulary import Channel
from db.config import tortoise_config
from db.models import Account, User
from server.app import create_app
from server.cli import main
from tests.conftest import POSTGRES_URL, TABLES, require_service, run_in_fresh_loop
from tests.inbox.conftest import SANDBOX_KEY, SIGNING_KEY, inbox_settings
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_app, running_sandbox

SWITCHBOARD = Path(sys.executable).parent / "switchboard"
# Settings a developer's shell may hold that would change what the commands do.
FOREIGN_VARIABLES = ("UNIPILE_DSN", "UNIPILE_API_KEY", "REDIS_URL", "TOKEN_TTL_HOURS")
Result = TypeVar("Result")


# -- running the command --------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Cli:
    """`switchboard …` through `server.cli.main`, as the console script runs it."""

    database_url: str
    capsys: pytest.CaptureFixture[str]

    def run(self, *argv: str) -> Done:
        code = main(list(argv))
        captured = self.capsys.readouterr()
        return Done(code, captured.out, captured.err)

    def ok(self, *argv: str) -> str:
        done = self.run(*argv)
        assert done.code == 0 and not done.err, done
        return done.out

    def json(self, *argv: str) -> Any:
        return json.loads(self.ok(*argv, "--json"))

    def refused(self, *argv: str) -> str:
        """The one line a refused command prints on stderr (it prints nothing on stdout)."""
        done = self.run(*argv)
        assert done.code == 1 and not done.out, done
        lines = done.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("switchboard: "), done.err
        return lines[0]

    def state(self) -> tuple[Any, Any]:
        """Everything the directory holds, as its listings show it."""
        return self.json("workspaces", "list"), self.json("users", "list")

    def token(self, email: str) -> str:
        return self.ok("token", "--email", email).strip()


async def _truncated(url: str) -> None:
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        await connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty database, with no Tortoise context open: the command opens its own."""
    # Tortoise caches SQL per connection name, and both backends' connection is "default".
    EXECUTOR_CACHE.clear()
    if request.param == "sqlite":
        path = tmp_path / "directory.sqlite3"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite://{path}"
    migrated = request.getfixturevalue("postgres_migrated")
    if migrated is None:
        require_service("PostgreSQL", f"cannot connect to {POSTGRES_URL}")
    run_in_fresh_loop(_truncated(migrated))
    url: str = migrated
    return url


def command_environment(database_url: str, data_dir: Path) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "JWT_SECRET": SIGNING_KEY}


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    monkeypatch.chdir(tmp_path)  # no `.env` of the checkout's
    for name in FOREIGN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in command_environment(database_url, tmp_path / "var").items():
        monkeypatch.setenv(name, value)
    return Cli(database_url, capsys)


def on_database(url: str, work: Callable[[], Awaitable[Result]]) -> Result:
    """Runs `work` with the ORM on `url`, for what no command makes (accounts)."""

    async def run() -> Result:
        async with TortoiseContext() as context:
            await context.init(config=tortoise_config(url))
            return await work()

    result: Result = run_in_fresh_loop(run())
    return result


def add_account(url: str, owner_email: str, unipile_id: str) -> None:
    async def add() -> None:
        owner = await User.get(email=owner_email)
        await Account.create(
            workspace_id=owner.workspace_id,
            owner=owner,
            shared=True,
            channel=Channel.WHATSAPP,
            provider="WHATSAPP",
            unipile_id=unipile_id,
            name=f"WhatsApp of {owner_email}",
        )

    on_database(url, add)


def columns_line_up(text: str, headings: tuple[str, ...]) -> bool:
    """Whether each heading starts where its column's cells do, in every line."""
    lines = text.splitlines()
    starts = [lines[0].index(heading) for heading in headings]
    return all(
        start == 0 or (line[start - 2 : start] == "  " and line[start] != " ")
        for line in lines[1:]
        for start in starts
    )


# -- workspaces -----------------------------------------------------------------------------


def test_workspaces_are_created_and_listed_with_their_users_and_accounts(cli: Cli) -> None:
    assert cli.ok("workspaces", "list") == "no workspaces\n"
    assert cli.json("workspaces", "list") == {"workspaces": []}
    created = cli.json(
        "workspaces",
        "create",
        "--name",
        "  Acme Europe ",
        "--slug",
        "acme-eu",
        "--external-id",
        "crm-acme",
        "--region",
        "fr",
    )
    assert datetime.fromisoformat(created.pop("created_at")).tzinfo is not None
    assert created == {
        "slug": "acme-eu",
        "name": "Acme Europe",
        "external_id": "crm-acme",
        "default_region": "FR",
        "users": 0,
        "accounts": 0,
    }
    shown = cli.ok("workspaces", "create", "--name", "Globex", "--slug", "globex")
    assert shown.splitlines()[1].split() == ["globex", "Globex", "-", "US", "0", "0"]
    for email in ("ann@acme.test", "ben@acme.test"):
        cli.ok(*new_user("--email", email, "--name", "A", workspace="acme-eu"))
    add_account(cli.database_url, "ann@acme.test", "acc_directory_ann")

    listed = cli.json("workspaces", "list")["workspaces"]
    assert [
        (row["slug"], row["name"], row["external_id"], row["users"], row["accounts"])
        for row in listed
    ] == [("acme-eu", "Acme Europe", "crm-acme", 2, 1), ("globex", "Globex", None, 0, 0)]
    text = cli.ok("workspaces", "list")
    assert [line.split("  ")[0] for line in text.splitlines()] == ["SLUG", "acme-eu", "globex"]
    assert "Acme Europe  crm-acme" in text and text == text.rstrip() + "\n"
    assert columns_line_up(text, ("SLUG", "NAME", "EXTERNAL ID", "REGION", "USERS", "ACCOUNTS"))


def test_a_name_of_the_longest_length_is_kept_whole(cli: Cli) -> None:
    name = "N" * 199 + "é"
    cli.ok("workspaces", "create", "--name", name, "--slug", "s" * 64)
    cli.ok(*new_user("--email", "a@b.test", "--name", name, workspace="s" * 64))
    workspaces, users = cli.state()
    assert workspaces["workspaces"][0]["name"] == name
    assert users["users"][0]["name"] == name


# -- users ----------------------------------------------------------------------------------


def test_users_are_created_with_normalised_emails_and_listed_by_workspace(cli: Cli) -> None:
    cli.ok("workspaces", "create", "--name", "Acme", "--slug", "acme")
    cli.ok("workspaces", "create", "--name", "Globex", "--slug", "globex")
    jane = cli.json(
        "users",
        "create",
        "--workspace",
        "acme",
        "--email",
        " Jane.Doe@Bücher.DE ",
        "--name",
        "Jane Doe",
        "--role",
        "ADMIN",
        "--external-id",
        "u-1",
    )
    assert (jane["email"], jane["role"], jane["workspace"], jane["external_id"]) == (
        "jane.doe@xn--bcher-kva.de",
        "admin",
        "acme",
        "u-1",
    )
    assert jane["active"] is True
    # An external id is unique within its workspace only.
    cli.ok(
        *new_user(
            "--email",
            "gus@globex.test",
            "--name",
            "Gus",
            "--external-id",
            "u-1",
            workspace="globex",
        )
    )
    cli.ok(*new_user("--email", "al@acme.test", "--name", "Al"))

    everyone = [(user["workspace"], user["email"]) for user in cli.json("users", "list")["users"]]
    assert everyone == [
        ("acme", "al@acme.test"),
        ("acme", "jane.doe@xn--bcher-kva.de"),
        ("globex", "gus@globex.test"),
    ]
    globex = cli.json("users", "list", "--workspace", "globex")["users"]
    assert [(user["email"], user["role"], user["external_id"]) for user in globex] == [
        ("gus@globex.test", "member", "u-1")
    ]
    text = cli.ok("users", "list", "--workspace", "acme")
    assert [line.split()[0] for line in text.splitlines()] == [
        "EMAIL",
        "al@acme.test",
        "jane.doe@xn--bcher-kva.de",
    ]
    assert text.splitlines()[2].split()[-4:] == ["admin", "acme", "u-1", "active"]
    assert columns_line_up(text, ("EMAIL", "NAME", "ROLE", "WORKSPACE", "EXTERNAL ID", "STATUS"))
    cli.ok("workspaces", "create", "--name", "Empty", "--slug", "empty")
    assert cli.ok("users", "list", "--workspace", "empty") == "no users\n"


def test_a_disabled_user_gets_no_token_until_enabled_again(cli: Cli) -> None:
    cli.ok("workspaces", "create", "--name", "Acme", "--slug", "acme")
    cli.ok(*new_user("--email", "ann@acme.test", "--name", "Ann"))
    assert cli.ok("users", "disable", "--email", "ANN@acme.test") == (
        "ann@acme.test disabled: their tokens are refused from now on\n"
    )
    again = cli.json("users", "disable", "--email", "ann@acme.test")
    assert (again["active"], again["changed"]) == (False, False)
    assert cli.ok("users", "list").splitlines()[1].split()[-1] == "disabled"
    refused = cli.refused("token", "--email", "ann@acme.test")
    assert "'ann@acme.test' is disabled" in refused and "users enable" in refused
    enabled = cli.json("users", "enable", "--email", "ann@acme.test")
    assert (enabled["active"], enabled["changed"]) == (True, True)
    assert (
        cli.ok("users", "enable", "--email", "ann@acme.test")
        == "ann@acme.test was already enabled\n"
    )
    assert cli.token("ann@acme.test").count(".") == 2


# -- tokens ---------------------------------------------------------------------------------


def test_a_token_names_its_user_and_lasts_as_asked(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("workspaces", "create", "--name", "Acme", "--slug", "acme")
    cli.ok(*new_user("--email", "ann@acme.test", "--name", "Ann"))
    issued = cli.json("token", "--email", "Ann@Acme.test", "--hours", "2.5")
    assert (issued["email"], issued["workspace"]) == ("ann@acme.test", "acme")
    claims = jwt.decode(issued["token"], SIGNING_KEY, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 2.5 * 3600
    assert datetime.fromisoformat(issued["expires_at"]).timestamp() // 1 == claims["exp"]

    monkeypatch.setenv("TOKEN_TTL_HOURS", "5")
    default = jwt.decode(cli.token("ann@acme.test"), SIGNING_KEY, algorithms=["HS256"])
    assert default["exp"] - default["iat"] == 5 * 3600
    assert (default["sub"], default["workspace"]) == (claims["sub"], claims["workspace"])


@pytest.mark.parametrize("hours", ["0", "-1", "nan", "inf", "8785", "1e300"])
def test_a_token_lifetime_out_of_bounds_is_refused(cli: Cli, hours: str) -> None:
    cli.ok("workspaces", "create", "--name", "Acme", "--slug", "acme")
    cli.ok(*new_user("--email", "ann@acme.test", "--name", "Ann"))
    refused = cli.refused("token", "--email", "ann@acme.test", "--hours", hours)
    assert "lifetime must be more than 0 and at most 8784 hours" in refused


# -- refusals -------------------------------------------------------------------------------

LONG = "x" * 10_000
USER = ("--email", "new@acme.test", "--name", "New")


def new_workspace(*options: str, slug: str = "new", name: str = "New") -> tuple[str, ...]:
    # `--slug=-x`: a value starting with a dash is an option's otherwise.
    return ("workspaces", "create", f"--name={name}", f"--slug={slug}", *options)


def new_user(*options: str, workspace: str = "acme", role: str = "member") -> tuple[str, ...]:
    return ("users", "create", "--workspace", workspace, "--role", role, *options)


REFUSALS: list[tuple[str, tuple[str, ...], str]] = [
    ("unknown workspace", new_user(*USER, workspace="nope"), "no workspace with the slug 'nope'"),
    ("path-like workspace", new_user(*USER, workspace="../acme"), "slug '../acme'"),
    ("users of an unknown workspace", ("users", "list", "--workspace", "zz"), "slug 'zz'"),
    ("duplicate slug", new_workspace(slug="acme"), "workspace with the slug 'acme' already"),
    (
        "duplicate workspace external id",
        new_workspace("--external-id", "crm-acme"),
        "workspace with the external id 'crm-acme' already exists",
    ),
    (
        "duplicate email",
        new_user("--email", " JANE@acme.test", "--name", "J"),
        "user with the email 'jane@acme.test' already exists, in the workspace 'acme'",
    ),
    (
        "duplicate email of another workspace",
        new_user("--email", "jane@acme.test", "--name", "J", workspace="globex"),
        "user with the email 'jane@acme.test' already exists, in the workspace 'acme'",
    ),
    (
        "duplicate user external id",
        new_user(*USER, "--external-id", "u-1"),
        "user with the external id 'u-1' already exists in the workspace 'acme'",
    ),
    ("email without @", new_user("--email", "jane", "--name", "J"), "'jane' is not a valid email"),
    ("email two @", new_user("--email", "a@b@c.test", "--name", "J"), "not a valid email"),
    ("email with space", new_user("--email", "a b@c.test", "--name", "J"), "not a valid email"),
    ("email 10,000 long", new_user("--email", LONG + "@a.test", "--name", "J"), "xxx…' is not"),
    ("path-like slug", new_workspace(slug="../x"), "the slug '../x' is not valid"),
    ("slug with a slash", new_workspace(slug="a/b"), "the slug 'a/b' is not valid"),
    ("uppercase slug", new_workspace(slug="Acme"), "the slug 'Acme' is not valid"),
    ("slug with a leading dash", new_workspace(slug="-acme"), "is not valid"),
    ("slug with a trailing dash", new_workspace(slug="acme-"), "is not valid"),
    ("slug with underscore", new_workspace(slug="a_b"), "is not valid"),
    ("slug with a newline", new_workspace(slug="acme\n"), "the slug 'acme\\n' is not valid"),
    ("empty slug", new_workspace(slug=""), "the slug '' is not valid"),
    ("slug of 65", new_workspace(slug="a" * 65), "at most 64"),
    ("slug 10,000 long", new_workspace(slug=LONG), "is not valid"),
    ("workspace name 10,000 long", new_workspace(name=LONG), "10,000 characters long; at most 200"),
    ("workspace name of 201", new_workspace(name="n" * 201), "201 characters long"),
    ("user name 10,000 long", new_user("--email", "n@acme.test", "--name", LONG), "10,000 char"),
    ("blank name", new_workspace(name="   "), "the name must not be empty"),
    ("name with a newline", new_workspace(name="a\nb"), "control characters or line breaks"),
    ("name with a NUL", new_user("--email", "n@a.test", "--name", "a\x00"), "control characters"),
    ("name with a lone surrogate", new_workspace(name="a\udcffb"), "control characters"),
    ("workspace external id of 256", new_workspace("--external-id", "e" * 256), "at most 255"),
    ("user external id of 10,000", new_user(*USER, "--external-id", LONG), "at most 255"),
    ("blank external id", new_workspace("--external-id", " "), "external id must not be empty"),
    ("unknown role", new_user(*USER, role="owner"), "role 'owner' is not valid"),
    ("empty role", new_user(*USER, role=""), "role '' is not valid"),
    ("unknown region", new_workspace("--region", "XX"), "region 'XX' is not valid"),
    ("three-letter region", new_workspace("--region", "USA"), "region 'USA' is not valid"),
    ("disable an unknown user", ("users", "disable", "--email", "x@y.test"), "no user with"),
    ("enable an invalid email", ("users", "enable", "--email", "../x"), "not a valid email"),
    ("token of an unknown user", ("token", "--email", "x@y.test"), "no user with the email"),
]


def test_each_refusal_is_one_line_saying_which_value_and_writes_nothing(cli: Cli) -> None:
    cli.ok(*new_workspace("--external-id", "crm-acme", slug="acme", name="Acme"))
    cli.ok(*new_workspace(slug="globex", name="Globex"))
    cli.ok(*new_user("--email", "jane@acme.test", "--name", "Jane", "--external-id", "u-1"))
    before = cli.state()
    # One database set-up for every case: each command starts and stops the ORM on its own.
    unsaid = [
        (case, output, line)
        for case, argv, said in REFUSALS
        for output in ((), ("--json",))
        if said not in (line := cli.refused(*argv, *output))
    ]
    assert unsaid == []
    assert cli.state() == before


# -- the installed command ------------------------------------------------------------------


def installed(*argv: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    inherited = {name: value for name, value in os.environ.items() if name not in FOREIGN_VARIABLES}
    return subprocess.run(
        [str(SWITCHBOARD), *argv],
        env={**inherited, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_installed_command_creates_refuses_and_issues(
    database_url: str, tmp_path: Path
) -> None:
    environment = command_environment(database_url, tmp_path / "var")
    created = installed(*new_workspace("--json", slug="acme"), environment=environment)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["slug"] == "acme"
    duplicate = installed(*new_workspace(slug="acme"), environment=environment)
    assert duplicate.returncode == 1 and not duplicate.stdout
    assert duplicate.stderr == "switchboard: a workspace with the slug 'acme' already exists\n"
    user = installed(*new_user(*USER, role="admin"), environment=environment)
    assert user.returncode == 0 and "new@acme.test" in user.stdout, user.stderr
    issued = installed("token", "--email", "new@acme.test", environment=environment)
    assert issued.returncode == 0, issued.stderr
    claims = jwt.decode(issued.stdout.strip(), SIGNING_KEY, algorithms=["HS256"])
    assert claims["iss"] == "switchboard"


# -- the tokens against the API -------------------------------------------------------------

VIEWER = "{ viewer { user { email } workspace { slug name } } accounts { externalId } }"
CREATE_CONTACT = """mutation($input: CreateContactInput!) {
  createContact(input: $input) { contact { id name } error { code message } } }"""
CONTACTS = "{ contacts(first: 100) { edges { node { id name } } } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
NEVER_STORE = """mutation($value: String!) {
  addNeverStore(input: {kind: EMAIL, value: $value}) { error { code } } }"""


@dataclass(frozen=True)
class Api:
    url: str

    def ask(self, token: str, query: str, **variables: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        body: dict[str, Any] = response.json()
        return body

    def data(self, token: str, query: str, **variables: Any) -> dict[str, Any]:
        body = self.ask(token, query, **variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def refused_code(self, token: str) -> str:
        body = self.ask(token, VIEWER)
        assert body.get("data") is None, body
        code: str = body["errors"][0]["extensions"]["code"]
        return code


@pytest.fixture
def api(cli: Cli, tmp_path: Path) -> Iterator[Api]:
    with running_sandbox(SandboxSettings(api_key=SANDBOX_KEY)) as sandbox:
        settings = inbox_settings(cli.database_url, tmp_path / "served", sandbox)
        with running_app(create_app(settings)) as url:
            yield Api(url)


def test_tokens_from_the_command_line_work_against_the_api_each_in_its_workspace(
    cli: Cli, api: Api
) -> None:
    cli.ok("workspaces", "create", "--name", "Acme", "--slug", "acme")
    cli.ok("workspaces", "create", "--name", "Globex", "--slug", "globex")
    for workspace, email, role in (
        ("acme", "ann@acme.test", "admin"),
        ("acme", "max@acme.test", "member"),
        ("globex", "gus@globex.test", "admin"),
    ):
        cli.ok(*new_user("--email", email, "--name", email[:3], workspace=workspace, role=role))
    add_account(cli.database_url, "ann@acme.test", "acc_directory_ann")
    ann, max_, gus = (
        cli.token(email) for email in ("ann@acme.test", "max@acme.test", "gus@globex.test")
    )

    seen = api.data(ann, VIEWER)
    assert seen["viewer"] == {
        "user": {"email": "ann@acme.test"},
        "workspace": {"slug": "acme", "name": "Acme"},
    }
    assert seen["accounts"] == [{"externalId": "acc_directory_ann"}]
    made = api.data(
        ann,
        CREATE_CONTACT,
        input={"firstName": "Zoe", "lastName": "Acme", "emails": ["zoe@acme.test"]},
    )
    contact = made["createContact"]["contact"]
    assert made["createContact"]["error"] is None and contact["name"] == "Zoe Acme"

    # The second workspace sees nothing of the first.
    other = api.data(gus, VIEWER)
    assert other == {
        "viewer": {
            "user": {"email": "gus@globex.test"},
            "workspace": {"slug": "globex", "name": "Globex"},
        },
        "accounts": [],
    }
    assert api.data(gus, CONTACTS)["contacts"]["edges"] == []
    assert api.data(gus, NODE, id=contact["id"])["node"] is None
    assert api.data(max_, NODE, id=contact["id"])["node"] == {"id": contact["id"]}

    # The role given on the command line is the one the API applies.
    assert api.data(max_, NEVER_STORE, value="spam@x.test")["addNeverStore"]["error"] == {
        "code": "FORBIDDEN"
    }
    assert api.data(ann, NEVER_STORE, value="spam@x.test")["addNeverStore"]["error"] is None

    # Disabling refuses the earlier token at once, and only that user's.
    cli.ok("users", "disable", "--email", "ann@acme.test")
    assert api.refused_code(ann) == "UNAUTHENTICATED"
    assert api.data(max_, VIEWER)["accounts"] == [{"externalId": "acc_directory_ann"}]
    cli.ok("users", "enable", "--email", "ann@acme.test")
    assert api.data(ann, VIEWER)["viewer"]["user"] == {"email": "ann@acme.test"}
