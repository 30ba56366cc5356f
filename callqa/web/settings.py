"""Options of the supervisor web app (config section `web`, all optional)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class WebOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_language: str = "ru"  # a language of languages.known with UI strings (configs/ui/<code>.yaml)
    session_max_age_s: int = Field(12 * 3600, ge=60)  # a login lasts this long
    secure_cookies: bool = False  # set behind HTTPS: cookies are then sent over HTTPS only
    login_attempts: int = Field(5, ge=1)  # failed logins per user name + client address ...
    login_window_s: float = Field(60.0, gt=0)  # ... within this many seconds, then 429
    login_attempts_per_ip: int = Field(30, ge=1)  # failed logins per client address, any user name
    trust_forwarded_for: bool = False  # behind a reverse proxy: client address from X-Forwarded-For
    queue_limit: int = Field(300, ge=1)  # calls shown in the review queue at once


def _check_default_language(config: Any) -> None:
    from callqa.pipeline.errors import ConfigError

    lang = config.section("web").default_language
    ui = config.get("ui", {}) or {}
    if lang not in config.section("languages").known or lang not in ui:
        offered = [c for c in config.section("languages").known if c in ui]
        src = next((f for f in reversed(config.files) if f.endswith("web.yaml")), "web.yaml")
        raise ConfigError(src, "web.default_language",
                          f"{lang!r} is not a language with UI strings (languages.known with ui/<code>.yaml: "
                          f"{', '.join(offered)})")


CONFIG_SECTIONS = {"web": WebOptions}
CONFIG_CHECKS = (_check_default_language,)
