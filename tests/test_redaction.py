"""Secrets are masked in every form they are sent in, in one place (omnirelay.redaction)."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus, urlencode

import pytest

from omnirelay.redaction import (
    MASK,
    header_credentials,
    mask_url,
    mask_urls,
    redactor,
    request_redactor,
    scrub,
    url_credentials,
)

SECRET = "Ga4Sec/RET+y=2 &%x"


def _lower_hex(text: str) -> str:
    """Percent escapes in lower-case hex, the rest as it is."""
    return re.sub(r"%[0-9A-F]{2}", lambda match: match.group().lower(), text)


ENCODED_FORMS = {
    "raw": SECRET,
    "quote": quote(SECRET, safe=""),
    "quote keeping /": quote(SECRET),
    "quote_plus": quote_plus(SECRET),
    "quote_plus, lower-case hex": _lower_hex(quote_plus(SECRET)),
    "quote, lower-case hex": _lower_hex(quote(SECRET, safe="")),
    "JSON-escaped": json.dumps(SECRET)[1:-1],
    "JSON-escaped, slash escaped": json.dumps(SECRET)[1:-1].replace("/", "\\/"),
    "base64": base64.b64encode(SECRET.encode()).decode(),
    "base64, URL-safe": base64.urlsafe_b64encode(SECRET.encode()).decode(),
}


@pytest.mark.parametrize("form", list(ENCODED_FORMS.values()), ids=list(ENCODED_FORMS))
def test_a_long_secret_is_masked_in_every_form_inside_any_text(form: str) -> None:
    text = f"HTTP 400: echo [{form}] and again x{form}y"
    masked = MASK + form[len(form.rstrip("=")) :]  # base64 padding may stay
    assert scrub(text, [SECRET]) == f"HTTP 400: echo [{masked}] and again x{masked}y"


def test_a_secret_with_quotes_and_backslashes_is_masked_json_escaped_once_and_twice() -> None:
    secret = 'q"uo\\te/x'
    once = json.dumps({"token": secret})
    twice = json.dumps({"body": once})
    assert scrub(once, [secret]) == f'{{"token": "{MASK}"}}'
    assert scrub(twice, [secret]) == json.dumps({"body": f'{{"token": "{MASK}"}}'})


def test_non_ascii_secrets_are_masked_escaped_and_encoded() -> None:
    secret = "clé-secrète"
    text = json.dumps({"a": secret, "b": secret}, ensure_ascii=True) + quote(secret)
    assert scrub(text, [secret]) == f'{{"a": "{MASK}", "b": "{MASK}"}}{MASK}'


def test_a_secret_cut_off_at_the_end_of_a_text_is_masked() -> None:
    echoed = f'HTTP 500: {{"url": "https://x/?api_secret={quote_plus(SECRET)}"}}'[:52]
    assert echoed.endswith("api_secret=Ga4Sec%2FRE")
    assert scrub(echoed, [SECRET]) == f'HTTP 500: {{"url": "https://x/?api_secret={MASK}'
    assert scrub("detail: ... Ga4S", [SECRET]) == f"detail: ... {MASK}"
    assert scrub("detail: ... Ga4", [SECRET]) == "detail: ... Ga4"  # too little to tell


def test_the_longest_secret_is_masked_first() -> None:
    assert scrub("token=abcdef-123456", ["abcdef", "abcdef-123456"]) == f"token={MASK}"


SHORT = "/%~"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SHORT, MASK),  # the whole text
        (f"  {SHORT}\n", MASK),
        (
            f"https://x/collect?a=1&api_secret={quote_plus(SHORT)}",
            f"https://x/collect?a=1&api_secret={MASK}",
        ),
        (f"?api_secret={_lower_hex(quote(SHORT, safe=''))}&v=2", f"?api_secret={MASK}&v=2"),
        (f"api_secret={SHORT}#f", f"api_secret={MASK}#f"),
        (f'{{"x-api-key": "{SHORT}", "n": 1}}', f'{{"x-api-key": "{MASK}", "n": 1}}'),
        (f'{{"{SHORT}": 1}}', f'{{"{MASK}": 1}}'),
        (f"Authorization: Bearer {SHORT}", f"Authorization: Bearer {MASK}"),
        (f"https://{quote(SHORT, safe='')}@host/p", f"https://{MASK}@host/p"),
        (f"https://user:{quote(SHORT, safe='')}@host/p", f"https://user:{MASK}@host/p"),
        # cut off right after where a value starts
        ("HTTP 500: ...?api_secret=%2F%2", f"HTTP 500: ...?api_secret={MASK}"),
        # not a whole value: left alone, or every such substring of a body would be masked
        (f"path a{SHORT}b and {SHORT}x", f"path a{SHORT}b and {SHORT}x"),
        (f'{{"v": "a{SHORT}"}}', f'{{"v": "a{SHORT}"}}'),
        (f"?k=a{quote_plus(SHORT)}", f"?k=a{quote_plus(SHORT)}"),
    ],
)
def test_a_short_secret_is_masked_where_it_is_a_whole_value(text: str, expected: str) -> None:
    assert scrub(text, [SHORT]) == expected


def test_a_two_character_secret_leaves_the_words_and_hashes_of_a_body_alone() -> None:
    body = json.dumps({"em": ["ab" * 32], "note": "about a tab", "token": "ab"})
    assert scrub(body, ["ab"]) == body.replace('"token": "ab"', f'"token": "{MASK}"')


def test_nothing_to_mask_leaves_the_text_as_it_is() -> None:
    assert scrub("anything", []) == "anything"
    assert scrub(None, ["secret"]) is None
    assert scrub("", ["secret"]) == ""
    assert scrub("text", ["", "   "]) == "text"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://user:pa%20ss@hooks.example/in", f"https://{MASK}:{MASK}@hooks.example/in"),
        ("https://tok3n@hooks.example/in", f"https://{MASK}@hooks.example/in"),
        (
            "https://hooks.example/in?secret=a%2Fb&id=7&token=x;api_key=k#top",
            f"https://hooks.example/in?secret={MASK}&id=7&token={MASK};api_key={MASK}#top",
        ),
        (
            "https://h.example/mp?Api_Secret=s&measurement_id=G-1",
            f"https://h.example/mp?Api_Secret={MASK}&measurement_id=G-1",
        ),
        ("https://hooks.example/in?x=1&empty_token=", "https://hooks.example/in?x=1&empty_token="),
        ("https://hooks.example/in/a@b", "https://hooks.example/in/a@b"),  # @ in the path
        ("https://hooks.example/in", "https://hooks.example/in"),
    ],
)
def test_mask_url_masks_user_info_and_credential_parameters(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_url_passes_other_values_and_can_mask_every_query_value() -> None:
    assert mask_url(1234) == 1234 and mask_url(None) is None
    assert mask_url("http://h/p?a=1&b=", every_value=True) == f"http://h/p?a={MASK}&b="
    assert mask_urls(None) is None
    assert mask_urls({"base_url": "http://u:p@h", "n": 2}) == {
        "base_url": f"http://{MASK}:{MASK}@h",
        "n": 2,
    }


def test_the_credentials_of_a_url_and_of_headers_are_found() -> None:
    assert url_credentials("https://us%20er:p%2Fw@h/p?secret=a+b&id=1&token=c") == [
        "p/w",
        base64.b64encode(b"us er:p/w").decode(),  # what an HTTP client sends as Basic
        "a b",
        "c",
    ]
    assert url_credentials("http://[::1/") == []
    basic = base64.b64encode(b"user:pw").decode()
    assert header_credentials(
        {"Authorization": f"Basic {basic}", "X-Api-Key": "k1", "Content-Type": "a/b"}
    ) == [f"Basic {basic}", basic, "user:pw", "pw", "k1"]
    assert url_credentials("https://api-key-as-user@h/") == [
        "api-key-as-user",
        base64.b64encode(b"api-key-as-user:").decode(),
    ]
    assert header_credentials({"Access-Token": "t", "Authorization": "Bearer b"}) == [
        "t",
        "Bearer b",
        "b",
    ]


def test_a_request_redactor_covers_what_the_request_itself_shows_to_be_secret() -> None:
    url = "https://hook:pass%2Fword@hooks.example/in?" + urlencode({"token": SECRET})
    redactor_ = request_redactor(url, {"X-Api-Key": "hdr-value-1"}, ["listed-secret"])
    basic = base64.b64encode(b"hook:pass/word").decode()
    echoed = f"{SECRET} pass/word hdr-value-1 listed-secret Basic {basic}"
    assert redactor_.scrub(echoed) == " ".join([MASK] * 4 + ["Basic", MASK])
    assert redactor_.scrub_url(url) == f"https://{MASK}:{MASK}@hooks.example/in?token={MASK}"


def test_redactors_are_cached_by_their_secrets() -> None:
    assert redactor(["b", "a"]) is redactor(["a", "b", "a"])
