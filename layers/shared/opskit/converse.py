"""One short text answer from a model on Amazon Bedrock (the Converse API), or a plain-words reason why
not. Generic: callers bring the prompt and decide what to do without an answer.

The interface callers depend on is `TextModel`: (system prompt, user prompt) -> text, raising
`ModelUnavailable`. Anything with that shape (a test double, an offline stand-in, a future shared
Bedrock helper) can take this module's place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

TextModel = Callable[[str, str], str]

# Plain words for what an operator can act on. Bedrock's own message is not repeated: it may quote
# the request.
_REASONS = {
    "AccessDeniedException": "access denied: the role may not invoke this model, or model access is "
    "not enabled in the Bedrock console",
    "ThrottlingException": "Bedrock is throttling requests; it will work again later",
    "ServiceQuotaExceededException": "the Bedrock quota for this model is used up",
    "ValidationException": "Bedrock refused the request (model ID or parameters)",
    "ModelNotReadyException": "the model is not ready",
    "ModelTimeoutException": "the model took too long to answer",
    "ServiceUnavailableException": "Bedrock is unavailable",
    "InternalServerException": "Bedrock had an internal error",
    "ResourceNotFoundException": "the model or inference profile does not exist in this Region",
}


class ModelUnavailable(Exception):
    """No usable answer. `code` is Bedrock's error code, or "malformed", "cut_off", "connection"."""

    def __init__(self, code: str, reason: str):
        self.code = code
        super().__init__(f"no answer from the model: {reason} ({code})")


def converse_text(
    client: Any,
    model_id: str,
    system: str,
    prompt: str,
    *,
    max_tokens: int = 512,
    temperature: float = 0.2,
) -> str:
    """The model's whole text answer to one user turn. Raises ModelUnavailable for an API error, a
    connection problem, an answer cut off by `max_tokens`, or an answer with no text."""
    try:
        response = client.converse(
            modelId=model_id,
            system=[{"text": system}],
            messages=[{"role": "user", "content": [{"text": prompt}]}],
            inferenceConfig={"maxTokens": max_tokens, "temperature": temperature},
        )
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "") or "ClientError")
        raise ModelUnavailable(code, _REASONS.get(code, "Bedrock returned an error")) from None
    except BotoCoreError as exc:
        raise ModelUnavailable("connection", f"Bedrock could not be reached ({type(exc).__name__})") from None
    if response.get("stopReason") == "max_tokens":
        raise ModelUnavailable("cut_off", "the answer was cut off at the token limit")
    try:
        blocks = response["output"]["message"]["content"]
        text = "".join(block["text"] for block in blocks if isinstance(block, dict) and "text" in block)
    except (KeyError, TypeError):
        raise ModelUnavailable("malformed", "the answer did not have the Converse shape") from None
    if not isinstance(text, str) or not text.strip():
        raise ModelUnavailable("malformed", "the answer had no text")
    return text.strip()
