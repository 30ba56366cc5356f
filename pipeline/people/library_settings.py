"""Options of the exemplary-call library (config section `library`, configs/library.yaml).

The library is a view over the store: changing these re-ranks what trainers see and
changes no call's analysis (so `library` is not part of `analysis_id`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LibraryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Pending nominations listed per competency and scenario, best first (difficult calls
    # turned positive, then difficult, then score); a call stays listed while it is among
    # the best for at least one competency it shows. Approved and rejected calls are all listed.
    per_competency_scenario: int = Field(3, ge=1)


CONFIG_SECTIONS = {"library": LibraryConfig}
