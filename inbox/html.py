"""Email HTML made safe to put into a page: what `Message.html` answers by default.

An email's HTML is written by whoever sent it, so it is hostile input. `sanitised_html` keeps
what a reader of a CRM inbox expects to see (formatting, tables, inline styles for layout,
images, links) and drops everything that could run, navigate the page, restyle the app around it
or reach the app's own origin: scripts and style sheets with their content, event handlers,
`<iframe>`/`<object>`/`<embed>`/`<form>`, `<meta>`, SVG and MathML, ids, names and classes (DOM
clobbering, the app's CSS), relative URLs, and every URL scheme but http(s), mailto and tel
(data: only for raster images). Links open in a new tab with `rel="noopener noreferrer"`;
images are fetched without a Referer. The sanitiser is ammonia (Rust) through `nh3`.

html5ever, the parser under ammonia, takes time quadratic in the nesting depth (100,000 nested
`<div>` take half a minute), so a body whose parse would cost more than `PARSE_WORK_BUDGET` is
answered as its text alone (`inbox.html_cost` estimates the cost from the markup). Results are
kept by body in a small bounded cache: a conversation view asks for the same bodies again.
"""

from __future__ import annotations

import re
from collections import OrderedDict

import nh3

from inbox.html_cost import parse_work

TAGS = frozenset(
    {
        *("a", "abbr", "address", "b", "bdi", "bdo", "big", "blockquote", "br", "center"),
        *("cite", "code", "del", "dfn", "div", "em", "font", "hr", "i", "ins", "kbd", "mark"),
        *("p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup"),
        *("time", "tt", "u", "var", "wbr", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("ul", "ol", "li", "dl", "dt", "dd"),
        *("table", "caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "th", "td"),
        *("img", "figure", "figcaption"),
        *("article", "aside", "details", "footer", "header", "section", "summary"),
        *("ruby", "rp", "rt"),
    }
)
_CELL = frozenset({"align", "valign", "width", "height", "bgcolor", "colspan", "rowspan"})
ATTRIBUTES: dict[str, frozenset[str]] = {
    "*": frozenset({"align", "dir", "lang", "title", "style"}),
    "a": frozenset({"href", "hreflang"}),
    "img": frozenset({"src", "alt", "width", "height", "border"}),
    "font": frozenset({"color", "face", "size"}),
    "table": frozenset({"width", "height", "border", "cellpadding", "cellspacing", "bgcolor"}),
    "td": _CELL | {"nowrap", "headers", "scope"},
    "th": _CELL | {"nowrap", "headers", "scope", "abbr"},
    "tr": frozenset({"valign", "height", "bgcolor"}),
    "thead": frozenset({"valign"}),
    "tbody": frozenset({"valign"}),
    "tfoot": frozenset({"valign"}),
    "col": frozenset({"span", "width", "valign"}),
    "colgroup": frozenset({"span", "width", "valign"}),
    "ol": frozenset({"start", "type", "reversed"}),
    "ul": frozenset({"type"}),
    "li": frozenset({"value"}),
    "hr": frozenset({"width", "size", "noshade"}),
    "time": frozenset({"datetime"}),
    "del": frozenset({"datetime"}),
    "ins": frozenset({"datetime"}),
}
# What an email's layout needs. No property that takes a URL (`background`, `list-style`,
# `cursor`, `content`: remote loads), none that lifts a message out of its box over the app
# (`position`, `z-index`, `transform`), no `behavior` or `-moz-binding` (script, long ago).
STYLE_PROPERTIES = frozenset(
    {
        *("color", "background-color", "opacity", "display", "visibility", "float", "clear"),
        *("font", "font-family", "font-size", "font-style", "font-weight", "font-variant"),
        *("line-height", "letter-spacing", "word-spacing", "white-space", "word-break"),
        *("word-wrap", "overflow-wrap", "text-align", "text-decoration", "text-indent"),
        *("text-transform", "vertical-align", "direction", "unicode-bidi"),
        *("width", "height", "min-width", "max-width", "min-height", "max-height"),
        *("margin", "margin-top", "margin-right", "margin-bottom", "margin-left"),
        *("padding", "padding-top", "padding-right", "padding-bottom", "padding-left"),
        *("border", "border-top", "border-right", "border-bottom", "border-left"),
        *("border-color", "border-style", "border-width", "border-radius", "border-collapse"),
        *("border-spacing", "table-layout", "list-style-type", "overflow"),
    }
)
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "data"})
# What a link or an image may point at, read as a browser's URL parser reads it (tabs and
# newlines dropped, leading spaces and controls too): data: only for pictures and nothing else
# (not SVG, which is a document).
LINK_TARGET = re.compile(r"(?:https?|mailto|tel):", re.IGNORECASE)
IMAGE_SOURCE = re.compile(r"https?:|data:image/(?:png|gif|jpeg|webp)[;,]", re.IGNORECASE)
URL_ATTRIBUTES = {"href": LINK_TARGET, "src": IMAGE_SOURCE}
_IGNORED_IN_URLS = str.maketrans("", "", "\t\n\r")
_URL_PADDING = "".join(map(chr, range(0x21)))
# How a style value could hide `expression(` from a reader that does not decode CSS as a
# browser does: escapes and comments, which ammonia's own CSS filter decodes afterwards.
UNSAFE_STYLE_VALUE = re.compile(r"\\|/\*|expression|javascript:", re.IGNORECASE)

PARSE_WORK_BUDGET = 5_000_000
"""Parser steps allowed per body (see `inbox.html_cost`): at most about 15 ms of html5ever,
measured at its worst (nested `<div>` or `<ul>`)."""
CACHE_CHARACTERS = 8_000_000
"""Characters, raw and sanitised, the cache of sanitised bodies holds at most."""


def _filtered_attribute(tag: str, attribute: str, value: str) -> str | None:
    """ammonia's last word on an attribute, after its own URL checks, before its CSS filter."""
    if attribute == "style":
        kept = ";".join(rule for rule in value.split(";") if not UNSAFE_STYLE_VALUE.search(rule))
        return kept if kept.strip() else None
    allowed = URL_ATTRIBUTES.get(attribute)
    if allowed is None:
        return value
    url = value.translate(_IGNORED_IN_URLS).lstrip(_URL_PADDING)
    return value if allowed.match(url) else None


_CLEANER = nh3.Cleaner(
    tags=TAGS,
    clean_content_tags={"script", "style", "title"},
    attributes=ATTRIBUTES,
    attribute_filter=_filtered_attribute,
    url_schemes=URL_SCHEMES,
    url_relative="deny",
    filter_style_properties=STYLE_PROPERTIES,
    link_rel="noopener noreferrer",
    set_tag_attribute_values={"a": {"target": "_blank"}, "img": {"referrerpolicy": "no-referrer"}},
)


def sanitised_html(raw: str) -> str:
    """`raw` with only what is safe in a page (see the module's docstring); never fails."""
    kept = _cache.get(raw)
    if kept is None:
        kept = _sanitised(raw)
        _cache.put(raw, kept)
    return kept


def _sanitised(raw: str) -> str:
    if SURROGATE.search(raw):
        # JSON may carry a lone surrogate: no Unicode that Rust, or a JSON encoder, accepts.
        raw = raw.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if parse_work(raw, PARSE_WORK_BUDGET) > PARSE_WORK_BUDGET:
        return text_only(raw)
    return _CLEANER.clean(raw)


SURROGATE = re.compile("[\ud800-\udfff]")
MARKUP = re.compile(r"<[^>]*+>?")


def text_only(raw: str) -> str:
    """The text of `raw` without its markup, cheap whatever `raw` is: with no `<` left, no tag
    can start, and a character reference (`&lt;`) is only ever text."""
    return MARKUP.sub(" ", raw)


class SanitisedBodies:
    """Recently sanitised bodies by their raw text (a body read again, from UniPile or the
    database, is a new string but an equal one), least recently used out first, within
    `characters` in all; a body over an eighth of that is not kept."""

    def __init__(self, characters: int) -> None:
        self.characters = characters
        self._kept: OrderedDict[str, str] = OrderedDict()
        self._size = 0

    def get(self, raw: str) -> str | None:
        kept = self._kept.get(raw)
        if kept is not None:
            self._kept.move_to_end(raw)
        return kept

    def put(self, raw: str, sanitised: str) -> None:
        size = len(raw) + len(sanitised)
        if size > self.characters // 8 or raw in self._kept:
            return
        self._kept[raw] = sanitised
        self._size += size
        while self._size > self.characters:
            old_raw, old_sanitised = self._kept.popitem(last=False)
            self._size -= len(old_raw) + len(old_sanitised)


_cache = SanitisedBodies(CACHE_CHARACTERS)
