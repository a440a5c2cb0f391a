"""Planned spillway releases: the dam operator records an opening time, the dam rule warns from its deadline."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub.api.auth import Role
from hub.api.context import ApiContext
from hub.api.leading import leading_engine, through_engine
from hub.api.routes import ApiError, Call, Route


class ReleasePlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planned_open: AwareDatetime | None = Field(
        description="When the spillway gates open (with a time zone); null cancels the plan"
    )
    release_m3s: float | None = Field(
        None,
        ge=0,
        le=100_000,
        allow_inf_nan=False,
        description="The total release planned from the opening (m³/s): the reservoir's level forecast draws it "
        "down from then on (docs/forecast.md); unset: the measured outflow is held",
    )
    comment: str = Field("", max_length=2000, description="Why, e.g. the operating order's number")


class ReleaseAccepted(BaseModel):
    reservoir_id: str
    planned_open: AwareDatetime | None
    release_m3s: float | None = None
    by: str


def routes(ctx: ApiContext) -> list[Route]:
    async def plan(call: Call) -> ReleaseAccepted:
        engine = leading_engine(ctx, "record the release")
        body: ReleasePlan = call.body
        reservoir_id = call.request.match_info["reservoir_id"]
        try:
            await through_engine(
                ctx,
                "record the release",
                engine.plan_release,
                reservoir_id,
                body.planned_open,
                call.who,
                body.release_m3s,
            )
        except KeyError as exc:
            raise ApiError(404, str(exc.args[0])) from None
        return ReleaseAccepted(
            reservoir_id=reservoir_id, planned_open=body.planned_open, release_m3s=body.release_m3s, by=call.who
        )

    return [
        Route(
            "PUT",
            "/api/reservoirs/{reservoir_id}/release",
            plan,
            "Record (or cancel) a planned spillway opening",
            Role.HYDROLOGY,
            "thresholds",
            body=ReleasePlan,
            response=ReleaseAccepted,
            errors=(404, 422),
            description="From the opening minus the reservoir's warning lead time (its operating procedure, in the "
            "reservoir table) until an hour after the opening, a dam_safety alarm `<reservoir>/release` reminds "
            "officers that the downstream warning must be given. Cluster mode: recorded through the leading hub; "
            "another hub answers 503 (ask the leader), and every hub's situation view shows the plan.",
        )
    ]
