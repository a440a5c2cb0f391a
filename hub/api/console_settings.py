"""The hub config's ``console`` section: what the operator page needs beyond the API (sign-in, map, live cameras)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from hub.secret import Secret
from wire.messages import Identifier

TileUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s'\"<>]+$", max_length=500)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CookieSecure(StrEnum):
    AUTO = "auto"  # Secure when the request came over HTTPS (directly or X-Forwarded-Proto from the IOC's proxy)
    ALWAYS = "always"
    NEVER = "never"


class MapSettings(_Section):
    """The map's base layer. None by default: an IOC's own tile server, or points and names with no tiles at all."""

    tiles_url: TileUrl | None = Field(
        None,
        description="XYZ tile URL with {z}, {x}, {y} (e.g. the IOC's own https://tiles.example.vn/{z}/{x}/{y}.png); "
        "the page's Content-Security-Policy admits that origin only",
    )
    attribution: str = Field("", max_length=300, description="Shown in the map's corner (the tiles' licence asks)")
    max_zoom: int = Field(18, ge=1, le=22)
    center: tuple[float, float] = Field((16.0, 106.5), description="lat, lon before any point is known (Việt Nam)")
    zoom: int = Field(6, ge=1, le=22)

    @field_validator("tiles_url")
    @classmethod
    def _placeholders(cls, url: str | None) -> str | None:
        if url is not None and not all(p in url for p in ("{z}", "{x}", "{y}")):
            raise ValueError("a tile URL needs {z}, {x} and {y}")
        return url

    @field_validator("center")
    @classmethod
    def _wgs84(cls, c: tuple[float, float]) -> tuple[float, float]:
        if not (-90 <= c[0] <= 90 and -180 <= c[1] <= 180):
            raise ValueError("center is (latitude, longitude) in degrees")
        return c


class LiveCamera(_Section):
    """A camera whose live picture the hub relays: the browser sees /api/cameras/<camera>/live, never this URL."""

    node_id: Identifier
    camera: Identifier
    name: str | None = Field(None, max_length=120, description="What the page calls it (default: the camera id)")
    mjpeg_url: AnyHttpUrl = Field(description="The camera's (or the node's) MJPEG stream, as the hub reaches it")
    username: str | None = Field(None, max_length=200)
    password: Secret | None = None


class ConsoleSettings(_Section):
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="A sign-in lasts this long (the cookie expires)")
    cookie_secure: CookieSecure = CookieSecure.AUTO
    map: MapSettings = MapSettings()
    cameras: list[LiveCamera] = Field(default_factory=list, description="Cameras with a live view relayed by the hub")
    live_max_viewers: int = Field(8, ge=1, le=100, description="Live views open at once, all cameras together")
    live_max_s: float = Field(600.0, gt=0, description="A live view closes after this long (the page can reopen it)")

    @model_validator(mode="after")
    def _unique_cameras(self) -> ConsoleSettings:
        keys = [(c.node_id, c.camera) for c in self.cameras]
        if len(keys) != len(set(keys)):
            raise ValueError("a camera (node_id, camera) is listed twice in console.cameras")
        return self
