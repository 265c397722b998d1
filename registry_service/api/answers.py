"""Write routes commit only an answer that renders, so a stored change is always returned."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from registry_service.schemas import rendered_or_refused

Answer = TypeVar("Answer", bound=BaseModel)


def commit_answer(session: Session, answer: Answer) -> Answer:
    """Render the answer, then commit: a failure to render rolls the change back."""
    rendered_or_refused(answer)
    session.commit()
    return answer
