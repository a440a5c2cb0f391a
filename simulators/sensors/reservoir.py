"""A reservoir's mass balance: storage fills from basin inflow and drains through releases and the spillway."""

from __future__ import annotations

from simulators.sensors.hydrology import Hyetograph, Routing
from wire.nodeconfig.simulated import ReservoirParams

_MCM = 1e6  # m³ per million m³, the unit reservoir storage is quoted in


class ReservoirSimulation:
    """Integrates dS/dt = inflow - release - spill on a fixed grid from t=0, so any sampling pattern sees the
    same trajectory; values between grid points are interpolated."""

    def __init__(self, p: ReservoirParams) -> None:
        self.p = p
        self.crest = p.spill_crest_m if p.spill_crest_m is not None else p.normal_level_m
        self.rain = Hyetograph.from_bursts(p.bursts)
        self.routing = Routing(p.lag_s, p.recession_s, p.reservoirs)
        self._area_m2 = p.basin_area_km2 * 1e6
        self._reset()

    def _reset(self) -> None:
        self._k = 0
        self._storage = self.storage(self.p.initial_level_m)

    # -- level / storage curve --------------------------------------------------------------------------
    def storage(self, level_m: float) -> float:
        """m³ held at ``level_m``; a power law is the usual fit of a surveyed level-storage table."""
        p = self.p
        rel = max(0.0, (level_m - p.bed_level_m) / (p.normal_level_m - p.bed_level_m))
        return p.normal_storage_mcm * _MCM * rel**p.shape_exponent

    def level(self, storage_m3: float) -> float:
        p = self.p
        rel = max(0.0, storage_m3 / (p.normal_storage_mcm * _MCM)) ** (1.0 / p.shape_exponent)
        return p.bed_level_m + (p.normal_level_m - p.bed_level_m) * rel

    # -- fluxes -----------------------------------------------------------------------------------------
    def inflow(self, t_s: float) -> float:
        """m³/s: base flow plus effective basin rain routed to the reservoir."""
        q_mm_s = self.routing.runoff_rate(self.rain, t_s) * self.p.runoff_coeff
        return self.p.base_inflow_m3s + q_mm_s / 1000.0 * self._area_m2

    def release(self, level_m: float) -> float:
        # Tapered over the last half metre so the intake never draws the level below the dead level.
        return self.p.release_m3s * min(1.0, max(0.0, (level_m - self.p.dead_level_m) / 0.5))

    def spill(self, level_m: float) -> float:
        """Free ogee crest: Q = C·L·h^1.5 with h the head over the crest."""
        head = level_m - self.crest
        return self.p.spillway_coef * head**1.5 if head > 0 else 0.0

    def outflow_at_level(self, level_m: float) -> float:
        return self.release(level_m) + self.spill(level_m)

    # -- integration ------------------------------------------------------------------------------------
    def _step(self, k: int, storage: float) -> float:
        # Heun (RK2): stable here because the spillway's time constant (surface area / dQ/dh) is hours.
        dt = self.p.step_s
        t0, t1 = k * dt, (k + 1) * dt
        f0 = self.inflow(t0) - self.outflow_at_level(self.level(storage))
        guess = max(0.0, storage + dt * f0)
        f1 = self.inflow(t1) - self.outflow_at_level(self.level(guess))
        return max(0.0, storage + dt * (f0 + f1) / 2.0)

    def storage_at(self, t_s: float) -> float:
        t_s = max(0.0, t_s)
        k = int(t_s // self.p.step_s)
        if k < self._k:
            self._reset()  # time went backwards (a new scenario run): start again from t=0
        while self._k < k:
            self._storage = self._step(self._k, self._storage)
            self._k += 1
        nxt = self._step(k, self._storage)
        frac = (t_s - k * self.p.step_s) / self.p.step_s
        return self._storage + (nxt - self._storage) * frac

    def level_at(self, t_s: float) -> float:
        return self.level(self.storage_at(t_s))

    def seepage_lps(self, level_m: float) -> float:
        """Seepage through the dam grows with the head on it (Darcy's law: flow proportional to gradient)."""
        head = max(0.0, level_m - self.p.dead_level_m)
        return self.p.seepage_base_lps + self.p.seepage_lps_per_m * head
