from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import VARIABLES, Settings, SettingsError


def settings_from(tmp_path: Path, **environ: str) -> Settings:
    return Settings.from_environ(environ, env_file=tmp_path / ".env")


def test_defaults_are_the_embedded_set_up(tmp_path: Path) -> None:
    settings = settings_from(tmp_path)
    assert settings.database_url == "sqlite://var/switchboard.sqlite3"
    assert settings.redis_url is None
    assert settings.uses_sandbox
    assert (settings.host, settings.port, settings.sandbox_port) == ("127.0.0.1", 8000, 8001)
    assert settings.public_url == "http://127.0.0.1:8000"
    assert not settings.report_cost


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "nonsense"),
        ("DATABASE_URL", "mysql://root@localhost/db"),
        ("REDIS_URL", "localhost:6379"),
        ("UNIPILE_DSN", "api1.unipile.com"),
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("SANDBOX_PORT", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("JWT_SECRET", "short"),
        ("TOKEN_TTL_HOURS", "-1"),
        ("SWITCHBOARD_REPORT_COST", "maybe"),
        ("CORS_ORIGINS", "*"),
        ("CORS_ORIGINS", "http://localhost:5173,*"),
        ("CORS_ORIGINS", "localhost:5173"),
        ("CORS_ORIGINS", "ftp://files.example.com"),
        ("CORS_ORIGINS", "https://crm.example.com/app"),
        ("CORS_ORIGINS", "https://crm.example.com:99999"),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from(tmp_path, **{variable: value})
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")
    assert "\n" not in str(raised.value)


def test_a_unipile_dsn_needs_its_api_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from(tmp_path, UNIPILE_DSN="https://api1.unipile.com:13111")
    assert raised.value.variable == "UNIPILE_API_KEY"


def test_production_values(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        UNIPILE_DSN="https://api1.unipile.com:13111/",
        UNIPILE_API_KEY="key",
        SWITCHBOARD_REPORT_COST="1",
    )
    assert settings.unipile_dsn == "https://api1.unipile.com:13111"
    assert not settings.uses_sandbox
    assert settings.report_cost


def test_the_environment_wins_over_the_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=9000\nHOST=0.0.0.0\n")
    settings = settings_from(tmp_path, PORT="9100")
    assert (settings.host, settings.port) == ("0.0.0.0", 9100)


def test_local_secrets_are_created_once(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, DATA_DIR=str(tmp_path / "data"))
    first = settings.signing_key()
    assert len(first) >= 32
    assert settings.signing_key() == first
    assert settings.webhook_key() != first
    assert (tmp_path / "data" / "jwt.secret").stat().st_mode & 0o077 == 0


def test_every_variable_is_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for variable in VARIABLES:
        assert f"`{variable.name}`" in readme, variable.name


def test_cors_origins_default_to_local_dev_servers_in_the_embedded_set_up(tmp_path: Path) -> None:
    origins = settings_from(tmp_path).cors_origins
    for port in (5173, 3000, 8080):
        assert f"http://localhost:{port}" in origins
        assert f"http://127.0.0.1:{port}" in origins
    assert all(origin.startswith(("http://localhost:", "http://127.0.0.1:")) for origin in origins)


def test_cors_origins_default_to_none_in_production(tmp_path: Path) -> None:
    production = {"UNIPILE_DSN": "https://api1.unipile.com:13111", "UNIPILE_API_KEY": "key"}
    assert settings_from(tmp_path, **production).cors_origins == ()
    listed = settings_from(tmp_path, **production, CORS_ORIGINS="https://crm.example.com")
    assert listed.cors_origins == ("https://crm.example.com",)


def test_cors_origins_are_read_as_browsers_send_them(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        CORS_ORIGINS=(
            " HTTPS://CRM.Example.com:443/ , http://localhost:5173,,"
            "http://localhost:5173, http://[::1]:3000, https://crm.example.com:8443"
        ),
    )
    assert settings.cors_origins == (
        "https://crm.example.com",
        "http://localhost:5173",
        "http://[::1]:3000",
        "https://crm.example.com:8443",
    )


def test_a_wildcard_origin_is_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from(tmp_path, CORS_ORIGINS="*")
    assert "'*' is not allowed" in raised.value.problem


def test_crm_tokens_are_off_until_an_issuer_is_set(tmp_path: Path) -> None:
    assert settings_from(tmp_path).crm_tokens.issuer is None


def test_crm_token_keys_choose_the_default_algorithms(tmp_path: Path) -> None:
    pem = tmp_path / "crm.pem"
    pem.write_text("-----BEGIN PUBLIC KEY-----\n", encoding="utf-8")
    shared = settings_from(tmp_path, CRM_JWT_ISSUER="https://crm", CRM_JWT_SECRET="s" * 32)
    assert shared.crm_tokens.algorithms == ("HS256",)
    public = settings_from(tmp_path, CRM_JWT_ISSUER="https://crm", CRM_JWT_PUBLIC_KEY_FILE=str(pem))
    assert public.crm_tokens.algorithms == ("RS256", "ES256")
    chosen = settings_from(
        tmp_path,
        CRM_JWT_ISSUER="https://crm",
        CRM_JWKS_URL="https://crm.example.com/.well-known/jwks.json",
        CRM_JWT_ALGORITHMS="es256",
    )
    assert chosen.crm_tokens.algorithms == ("ES256",)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"CRM_JWT_ISSUER": "https://crm"}, "CRM_JWT_ISSUER"),
        ({"CRM_JWT_SECRET": "s" * 32}, "CRM_JWT_ISSUER"),
        ({"CRM_JWT_ISSUER": "https://crm", "CRM_JWT_SECRET": "short"}, "CRM_JWT_SECRET"),
        (
            {"CRM_JWT_ISSUER": "i", "CRM_JWT_PUBLIC_KEY_FILE": "/nowhere.pem"},
            "CRM_JWT_PUBLIC_KEY_FILE",
        ),
        ({"CRM_JWT_ISSUER": "i", "CRM_JWKS_URL": "ftp://keys"}, "CRM_JWKS_URL"),
        (
            {"CRM_JWT_ISSUER": "i", "CRM_JWT_SECRET": "s" * 32, "CRM_JWT_ALGORITHMS": "none"},
            "CRM_JWT_ALGORITHMS",
        ),
        ({"CRM_JWT_USER_CLAIM": " "}, "CRM_JWT_USER_CLAIM"),
        ({"HOSTED_AUTH_TTL_MINUTES": "0"}, "HOSTED_AUTH_TTL_MINUTES"),
        ({"HOSTED_AUTH_SUCCESS_URL": "crm.example.com"}, "HOSTED_AUTH_SUCCESS_URL"),
    ],
)
def test_bad_crm_token_and_hosted_auth_settings_name_their_variable(
    tmp_path: Path, environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from(tmp_path, **environ)
    assert raised.value.variable == variable
