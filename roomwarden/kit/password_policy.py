"""What a new password must be: long enough, and not easy to guess by the zxcvbn strength
estimator (common passwords, keyboard walks, repeats, dates, dictionary words and their
l33t forms, and the person's own name, user name and domain).

Applied wherever a password is set: operator tenant creation, user creation and reset (API
and CLI), and a user's own password change. The message says why a password is refused."""

from __future__ import annotations

from collections.abc import Iterable

from zxcvbn import zxcvbn

MIN_LENGTH = 10
MAX_LENGTH = 256
#: zxcvbn's score: 3 is "safely unguessable: moderate protection from offline slow-hash
#: attacks" (about 10^8 guesses and more); 4 is "very unguessable".
MIN_SCORE = 3
#: zxcvbn's cost grows with length; its estimate is settled well before this.
_ESTIMATE_PREFIX = 72


def password_problem(password: str, user_inputs: Iterable[str] = ()) -> str | None:
    """Why ``password`` is refused, or ``None`` when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    inputs = [w for w in _words(user_inputs) if len(w) >= 3]
    result = zxcvbn(password[:_ESTIMATE_PREFIX], user_inputs=inputs, max_length=_ESTIMATE_PREFIX)
    if result["score"] >= MIN_SCORE:
        return None
    feedback = result.get("feedback") or {}
    reasons = [feedback.get("warning") or "It follows a pattern that is easy to guess."]
    reasons += feedback.get("suggestions") or []
    reasons.append("A few uncommon words together make a strong password.")
    return "the password is too easy to guess: " + " ".join(r.strip() for r in reasons if r.strip())


def _words(values: Iterable[str]) -> list[str]:
    """The person's own words: a UPN gives its local part and each domain label."""
    out: list[str] = []
    for value in values:
        value = (value or "").lower()
        out.append(value)
        for part in value.replace("@", " ").replace(".", " ").replace("-", " ").replace("_", " ").split():
            out.append(part)
    return out


def check_password(password: str, user_inputs: Iterable[str] = ()) -> str:
    """``password`` if acceptable, else ``ValueError`` with the reason (a Pydantic validator)."""
    if problem := password_problem(password, user_inputs):
        raise ValueError(problem)
    return password
