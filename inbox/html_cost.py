"""What html5ever's parse of a body costs, estimated from its markup before it is parsed.

html5ever scans the stack of open elements for many tokens (is there a `<p>` in button scope, is
this end tag's element open, are the active formatting elements open), so its time grows with
the number of tokens times the nesting depth: quadratic in the depth. `parse_work` counts those
steps; the sanitiser parses only bodies that stay within its budget.
"""

from __future__ import annotations

import re

# A comment, a CDATA section, a doctype or a bogus comment, or a tag with its attributes (quoted
# values may hold `<` and `>`), as html5ever's tokenizer reads them.
TOKEN = re.compile(
    r"<!--(?:-?>|.*?--!?>|.*)"
    r"|<!\[CDATA\["
    r"|<[!?][^>]*+>?|</(?![A-Za-z])[^>]*+>?"
    r"|<(/?)([A-Za-z][^\s/>]*+)"
    r"(?:[\s/]++|[^\s/>][^\s/>=]*+(?:\s*+=\s*+(?:\"[^\"]*+\"?|'[^']*+'?|[^\s>]*+))?)*+>?",
    re.DOTALL,
)
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr", "basefont", "bgsound", "frame", "keygen", "image", "isindex"}
)
# Elements whose text is no markup up to their end tag, outside SVG and MathML (`noscript` too:
# ammonia parses with scripting on). `plaintext` has no end.
RAW_TEXT = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript"}
    | {"plaintext"}
)
FOREIGN = frozenset({"svg", "math"})
# End tags the parser implies when the element around them ends.
IMPLIED_END = frozenset({"dd", "dt", "li", "optgroup", "option", "p", "rb", "rp", "rt", "rtc"})
_CLOSES_P = frozenset(
    {"address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div"}
    | {"dl", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5"}
    | {"h6", "header", "hgroup", "hr", "listing", "main", "menu", "nav", "ol", "p", "pre"}
    | {"search", "section", "summary", "ul", "xmp"}
)
# A start tag, with the innermost open elements it surely closes.
CLOSED_BY_START: dict[str, frozenset[str]] = {
    **dict.fromkeys(_CLOSES_P, frozenset({"p"})),
    "li": frozenset({"li", "p"}),
    "dd": frozenset({"dd", "dt", "p"}),
    "dt": frozenset({"dd", "dt", "p"}),
    "td": frozenset({"td", "th"}),
    "th": frozenset({"td", "th"}),
    "tr": frozenset({"td", "th", "tr"}),
    "option": frozenset({"option"}),
}


def parse_work(raw: str, budget: int) -> int:
    """About how many steps html5ever takes for `raw`, or a number above `budget` once that is
    passed: each token (a tag, a run of text, a character reference) costs as many steps as
    elements are open, which the parser scans. Elements are closed only where the parser surely
    closes them too, so that the count is not below the parser's (see the tests)."""
    tags = raw.count("<")
    bound = tags * (tags + raw.count("&") + 1)
    return bound if bound <= budget else _ParseCost(raw, budget).work()


class _ParseCost:
    """`parse_work` over a body too large for its quick bound: a walk over its tokens."""

    def __init__(self, raw: str, budget: int) -> None:
        self.raw = raw
        self.budget = budget
        self.open_elements: list[str] = []
        self.position = 0
        self.steps = 0

    def work(self) -> int:
        while self.steps <= self.budget and (token := TOKEN.search(self.raw, self.position)):
            self.text_until(token.start())
            self.position = token.end()
            if token[2] is not None:
                self.tag(token[2].lower(), closing=bool(token[1]))
            elif token[0] == "<![CDATA[":
                self.cdata()
        self.text_until(len(self.raw))
        return self.steps

    def text_until(self, end: int) -> None:
        references = self.raw.count("&", self.position, end)
        self.steps += len(self.open_elements) * (1 + references)

    def tag(self, name: str, *, closing: bool) -> None:
        elements = self.open_elements
        if closing:
            # Only the innermost element, or it and an element whose end tag is implied within
            # it: any other end tag may be one the parser ignores.
            if elements and elements[-1] == name:
                elements.pop()
            elif len(elements) > 1 and elements[-1] in IMPLIED_END and elements[-2] == name:
                del elements[-2:]
            return
        if name in VOID:
            return
        closed = CLOSED_BY_START.get(name, frozenset())
        while elements and elements[-1] in closed:
            elements.pop()
        elements.append(name)
        if name in RAW_TEXT and FOREIGN.isdisjoint(elements):
            self.raw_text(name)

    def raw_text(self, name: str) -> None:
        end = None
        if name != "plaintext":
            end = re.compile(f"</{name}[\\s/>]", re.IGNORECASE).search(self.raw, self.position)
        text_end = len(self.raw) if end is None else end.start()
        if name == "script" and "<!--" in self.raw[self.position : text_end]:
            # A script's escaped text may hold `</script>` that does not end it: past counting.
            self.steps = self.budget + 1
        self.position = text_end

    def cdata(self) -> None:
        """In SVG or MathML, text up to `]]>`; elsewhere a bogus comment up to `>`."""
        end_mark = "]]>" if not FOREIGN.isdisjoint(self.open_elements) else ">"
        end = self.raw.find(end_mark, self.position)
        self.position = len(self.raw) if end < 0 else end + len(end_mark)
