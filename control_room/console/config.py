"""The ``console:`` section of the control room's config (pages, sessions, site locations)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from yaml_config import StrictModel


class SiteLocation(StrictModel):
    name: str | None = Field(None, description="The village's name as people say it, e.g. "
                             "'Thôn Đông'. Default: the site code.")
    latitude: float | None = Field(None, ge=-90, le=90, description="For sunset and sunrise.")
    longitude: float | None = Field(None, ge=-180, le=180, description="For sunset and "
                                    "sunrise.")


class ConsoleSection(StrictModel):
    enabled: bool = Field(True, description="Serve the console pages on the HTTP port.")
    timezone: str = Field("Asia/Ho_Chi_Minh", description="Times are shown in this zone "
                          "(24 h).")
    default_language: Literal["vi", "en"] = Field("vi", description="Language of the pages "
                                                  "until a user picks another.")
    sites: dict[str, SiteLocation] = Field(default_factory=dict, description="Per site code: "
                                           "a display name and the location (sunset, "
                                           "sunrise).")
    default_location: SiteLocation | None = Field(None, description="Location used for a "
                                                  "site not listed in sites.")
    session_days: float = Field(30, gt=0, le=400, description="A login lasts this long "
                                "without use (a wall screen stays logged in).")
    secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure cookies: auto = when the request came over TLS (or "
        "X-Forwarded-Proto: https from a trusted proxy).")
    trusted_proxies: list[str] = Field(default_factory=list, description="Addresses whose "
                                       "X-Forwarded-For / X-Forwarded-Proto are believed.")
    login_max_failures: int = Field(5, ge=1, le=100, description="Failed logins per user "
                                    "name or address before it must wait.")
    login_window_s: float = Field(300, gt=0, description="… counted over this window; also "
                                  "the wait.")
    live_poll_s: float = Field(0.5, gt=0.05, le=30, description="How often the live pages "
                               "look for changes in the store.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}, e.g. Asia/Ho_Chi_Minh") from None
        return value

    def site_name(self, site: str) -> str:
        found = self.sites.get(site)
        return found.name if found and found.name else site

    def location(self, site: str) -> tuple[float, float] | None:
        for found in (self.sites.get(site), self.default_location):
            if found and found.latitude is not None and found.longitude is not None:
                return found.latitude, found.longitude
        return None
