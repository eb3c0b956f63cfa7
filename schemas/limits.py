"""Size limits on every free-text field and on whole payloads."""

from typing import Annotated

from pydantic import Field, StringConstraints

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_PROMPT_CHARS = 4000
MAX_TEXT_CHARS = 2000
MAX_REF_CHARS = 1024
MAX_ID_CHARS = 128

TaskId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=MAX_ID_CHARS, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
    ),
]
Identity = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
ShortText = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
Prompt = Annotated[str, StringConstraints(max_length=MAX_PROMPT_CHARS)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=MAX_REF_CHARS)]
NonNegFloat = Annotated[float, Field(ge=0)]
