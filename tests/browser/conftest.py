"""The browser tests' shared fixtures: Playwright over Debian's chromium (`playwright`, failing
instead of skipping with CI=true), a launched browser (`chromium`) and `make run`'s set-up for a
module (`app_server`)."""

from tests.browser.inbox_app import app_server, chromium  # noqa: F401 (fixtures)
from tests.browser.test_graphiql_browser import playwright  # noqa: F401 (fixture)
