"""Secrets kept out of what omnirelay records and answers: the one place that knows every
form in which a secret is sent.

A destination lists the raw secret values its request carries (``PreparedRequest.secrets``);
:func:`request_redactor` adds what the request itself shows to be secret (credentials
embedded in its URL, the values of headers named like credentials, the Basic credentials
an HTTP client derives from a URL's user info), and a :class:`Redactor` masks each of them
in every form it can take on the wire, or in an answer or error that echoes it:

- raw;
- URL-encoded: ``quote`` (``/`` kept or encoded) and ``quote_plus``; percent escapes match
  in upper- or lower-case hex;
- JSON-escaped: ``ensure_ascii`` on and off, ``/`` as ``\\/``, and escaped twice (JSON
  inside a JSON string); ``\\u`` escapes match in either case;
- base64, standard and URL-safe alphabets, padding optional; and the ``Basic`` credentials
  ``base64(user:password)`` of a URL's user info or of a ``Basic`` header;
- as Python prints bytes (``b'...'``: how HTTP libraries quote a header value they refuse).

Long and short secrets are masked differently. A secret of at least
``MIN_SUBSTRING_LENGTH`` characters is masked wherever one of its forms occurs, inside
longer text too; and a text that ends in the cut-off start of one of its forms (an error
message truncated in the middle of an echoed token) has that end masked. A shorter secret
cannot be treated so: a two-character secret would mask every matching pair of letters in
a body (hashes, words, ids). It is masked only where it stands as a whole value:

- the whole text (an error, a header value) is the secret;
- a JSON string, value or key: ``"<secret>"``;
- a query or form parameter value: ``=<secret>`` followed by ``&``, ``;``, ``#``, a quote,
  ``<``, ``>``, a backslash, whitespace or the end of the text;
- a URL's user info: ``://<secret>:``, ``://<secret>@``, ``://user:<secret>@``;
- an HTTP authorization value: ``Bearer <secret>``, ``Basic <secret>``, ``Token <secret>``;
- in each of its URL-encoded and JSON-escaped forms; and, at the end of a text, the cut-off
  start of such a value (``name=<start of secret>``).

So a short secret echoed inside free text (``token ab is invalid``) is not masked: no rule
can tell it from the same letters in other words. Secrets should be long.

URLs are also masked for what they are, whether or not their values are listed secrets
(:func:`mask_url`): the user info, and the values of query parameters whose name says
credential (``secret``, ``token``, ``key``, ``password``, ``auth``, ``signature``, ...).
That is what the admin API shows of a configured URL and what the audit keeps of a sent one.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

from omnirelay.security import MASK

MIN_SUBSTRING_LENGTH = 4

# Names of query parameters and headers whose values are credentials.
SECRET_NAME_RE = re.compile(
    r"secret|token|pass|pwd|key|auth|sig|credential|cookie|session|bearer|jwt", re.IGNORECASE
)
_AUTH_SCHEMES = ("basic", "bearer", "token", "bot", "digest")

_T = TypeVar("_T")


# ---- URLs ---------------------------------------------------------------------------------


def mask_url(url: _T, *, every_value: bool = False) -> _T:
    """``url`` with its user info and the values of its credential-named query parameters
    (every query value with ``every_value``) replaced by the mask; anything that is not a
    string comes back as it is, so a mapping of settings can be passed through value by
    value. Nothing else of the URL changes (no re-encoding)."""
    if not isinstance(url, str) or ("@" not in url and "=" not in url):
        return url
    return cast(_T, _masked_url(url, every_value))


def mask_urls(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Every value of a mapping (credential settings) through :func:`mask_url`."""
    return None if values is None else {key: mask_url(value) for key, value in values.items()}


def _masked_url(url: str, every_value: bool) -> str:
    scheme_end = url.find("://")
    if scheme_end >= 0:
        start = scheme_end + 3
        end = _first_of(url, "/?#", start)
        at = url.rfind("@", start, end)
        if at >= 0:
            masked = f"{MASK}:{MASK}" if ":" in url[start:at] else MASK
            url = f"{url[:start]}{masked}{url[at:]}"
    query_start = url.find("?")
    if query_start < 0:
        return url
    query_end = _first_of(url, "#", query_start)
    parts = re.split(r"([&;])", url[query_start + 1 : query_end])
    for index, part in enumerate(parts):
        name, equals, value = part.partition("=")
        if equals and value and (every_value or SECRET_NAME_RE.search(unquote(name))):
            parts[index] = f"{name}={MASK}"
    return f"{url[: query_start + 1]}{''.join(parts)}{url[query_end:]}"


def _first_of(text: str, characters: str, start: int) -> int:
    found = [i for i in (text.find(c, start) for c in characters) if i >= 0]
    return min(found) if found else len(text)


def url_credentials(url: str) -> list[str]:
    """The credentials a URL carries, decoded: its user info (the password, and the Basic
    credentials an HTTP client makes of it) and its credential-named query values."""
    try:
        parts = urlsplit(url)
        username, password = parts.username, parts.password
    except ValueError:  # not a URL an HTTP client would send either
        return []
    found: list[str] = []
    if username is not None or password is not None:
        user, secret = unquote(username or ""), unquote(password or "")
        found += [_user_or_password(user, secret), _basic(user, secret)]
    found += [
        value
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if SECRET_NAME_RE.search(name)
    ]
    return found


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _user_or_password(user: str, password: str) -> str:
    """The secret part of user info: the password, or the user when there is none (an API
    key sent as the user name); a user name beside a password names an account."""
    return password or user


def header_credentials(headers: Mapping[str, str]) -> list[str]:
    """Values of the headers named like credentials (``Authorization``, ``X-Api-Key``,
    ``Access-Token``, ``Cookie``, ...): whole, without their auth scheme, and decoded when
    they are ``Basic`` credentials."""
    found: list[str] = []
    for name, value in headers.items():
        if not SECRET_NAME_RE.search(name):
            continue
        found.append(value)
        scheme, _, credential = value.strip().partition(" ")
        if scheme.lower() not in _AUTH_SCHEMES or not credential.strip():
            continue
        credential = credential.strip()
        found.append(credential)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credential, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
            user, _, password = decoded.partition(":")
            found += [decoded, _user_or_password(user, password)]
    return found


# ---- text -----------------------------------------------------------------------------------

_ESCAPE_RE = re.compile(r"%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}")


def _pattern(literal: str) -> str:
    """A regex for ``literal`` whose percent and ``\\u`` escapes match in either case."""
    out, last = [], 0
    for match in _ESCAPE_RE.finditer(literal):
        escape = match.group()
        lead = 1 if escape[0] == "%" else 2
        out += [re.escape(literal[last : match.start()]), re.escape(escape[:lead])]
        out.append(f"(?i:{escape[lead:]})")
        last = match.end()
    out.append(re.escape(literal[last:]))
    return "".join(out)


def _url_forms(secret: str) -> set[str]:
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote_plus(secret, safe="/"),
    }
    return forms | {form.replace("/", "\\/") for form in forms if "/" in form}


def _json_forms(secret: str) -> set[str]:
    forms: set[str] = set()
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms |= {
            escaped,
            escaped.replace("/", "\\/"),
            json.dumps(escaped, ensure_ascii=ascii_only)[1:-1],
        }
    return forms


def _other_forms(secret: str) -> set[str]:
    raw = secret.encode()
    return {
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        repr(raw)[2:-1],
    }


def _alternatives(forms: Iterable[str]) -> str:
    return "|".join(_pattern(form) for form in sorted(forms, key=len, reverse=True))


class _Form:
    """One form of a secret: the literal, and a check of its presence that is cheap on a
    large body (a plain substring test; on the lower-cased text when hex case varies)."""

    __slots__ = ("folded", "literal", "pattern")

    def __init__(self, literal: str) -> None:
        self.literal = literal
        self.folded = literal.lower() if _ESCAPE_RE.search(literal) else None
        self.pattern = re.compile(_pattern(literal))

    def is_in(self, text: str, lowered: str, after: str = "") -> bool:
        """Whether the form occurs in the text (right ``after`` the given characters)."""
        if self.folded is None:
            return after + self.literal in text
        return after + self.folded in lowered


class Redactor:
    """Masks a set of secret values in text, in every form (see the module docstring)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {value for secret in secrets for value in {secret, secret.strip()}}
        values = {value for value in values if value.strip()}
        self.secrets = frozenset(values)
        self._whole: set[str] = set()
        long_forms: set[str] = set()
        short_url: set[str] = set()
        short_json: set[str] = set()
        for secret in values:
            url, escaped = _url_forms(secret), _json_forms(secret)
            self._whole |= url | escaped
            if len(secret) >= MIN_SUBSTRING_LENGTH:
                long_forms |= url | escaped | _other_forms(secret)
            else:
                short_url |= url
                short_json |= escaped
        self._whole |= long_forms
        # longest first: a form inside a longer one must not leave the rest of that in clear
        self._long = [_Form(f) for f in sorted(long_forms, key=len, reverse=True)]
        self._short = [_Form(f) for f in sorted(short_url | short_json, key=len, reverse=True)]
        # (pattern, what must precede a short form in the text for the pattern to apply)
        self._short_contexts: list[tuple[re.Pattern[str], tuple[str, ...]]] = []
        if short_url:
            url_value = _alternatives(short_url)
            schemes = "|".join(_AUTH_SCHEMES)
            self._short_contexts += [
                (re.compile(rf"(=)(?:{url_value})(?=$|[&;#\s\"'<>\\])"), ("=",)),
                (re.compile(rf"(://)(?:{url_value})(?=[:@])"), ("/",)),
                (re.compile(rf"(://[^/?#@\s:]*:)(?:{url_value})(?=@)"), (":",)),
                (
                    re.compile(rf"(\b(?i:{schemes})[ \t]+)(?:{url_value})(?=$|[\s\"',;\\])"),
                    (" ", "\t"),
                ),
            ]
        if short_json:
            self._short_contexts.append(
                (re.compile(rf"(\")(?:{_alternatives(short_json)})(?=\")"), ('"',))
            )
        # the start of a short value cut off at the end of a text, after what opens a value
        self._short_openers = [
            (opener, form.literal)
            for form in self._short
            for opener in ("=", '"', "://")
            if len(form.literal) > 1
        ]
        self._folds = any(form.folded is not None for form in [*self._long, *self._short])

    def scrub(self, text: str | None) -> str | None:
        """``text`` with every form of every secret masked."""
        if not text or not self.secrets:
            return text
        if text.strip() in self._whole:
            return MASK
        lowered = text.lower() if self._folds else text
        for form in self._long:
            if form.is_in(text, lowered):
                text = form.pattern.sub(MASK, text)
        present = [form for form in self._short if form.is_in(text, lowered)]
        for pattern, openers in self._short_contexts if present else ():
            if any(form.is_in(text, lowered, opener) for opener in openers for form in present):
                text = pattern.sub(lambda match: match.group(1) + MASK, text)
        return self._without_cut_off_end(text)

    def scrub_url(self, url: str) -> str:
        """A URL as the audit keeps it: secrets scrubbed, credentials masked."""
        return mask_url(self.scrub(url) or "")

    def _without_cut_off_end(self, text: str) -> str:
        """Masks the end of ``text`` when it is the start of a secret's form, cut off."""
        for form in self._long:
            literal = form.literal
            if len(literal) <= MIN_SUBSTRING_LENGTH:
                continue
            tail = text[-(len(literal) - 1) :]
            start = tail.find(literal[:MIN_SUBSTRING_LENGTH])
            while start >= 0:
                if literal.startswith(tail[start:]):
                    return text[: len(text) - len(tail) + start] + MASK
                start = tail.find(literal[:MIN_SUBSTRING_LENGTH], start + 1)
        for opener, literal in self._short_openers:
            for length in range(len(literal) - 1, 0, -1):
                if text.endswith(opener + literal[:length]):
                    return text[: len(text) - length] + MASK
        return text


@lru_cache(maxsize=1024)
def _redactor(secrets: tuple[str, ...]) -> Redactor:
    return Redactor(secrets)


def redactor(secrets: Iterable[str]) -> Redactor:
    """The (cached) redactor of a set of secret values."""
    return _redactor(tuple(sorted({s for s in secrets if s})))


def request_redactor(url: str, headers: Mapping[str, str], secrets: Iterable[str]) -> Redactor:
    """The redactor of one outbound request: the secrets its destination listed, the
    credentials in its URL and the values of its credential headers."""
    return redactor([*secrets, *url_credentials(url), *header_credentials(headers)])


def scrub(text: str | None, secrets: Iterable[str]) -> str | None:
    """``text`` with every form of each of ``secrets`` masked (see :class:`Redactor`)."""
    return redactor(secrets).scrub(text)
