"""Turning pydantic validation errors into messages that name each bad field."""

from pydantic import ValidationError


def describe_validation_error(error: ValidationError) -> list[str]:
    """One line per problem: `task.type: Input should be 'implementation', ...`."""
    lines = []
    for problem in error.errors(include_url=False):
        location = ".".join(str(part) for part in problem["loc"]) or "(input)"
        # A validator's own message reads as written, without pydantic's prefix.
        lines.append(f"{location}: {problem['msg'].removeprefix('Value error, ')}")
    return lines
