"""The ``uncertainty:`` section of ``scenario.yaml``: how the day may differ from its forecast.

One pydantic model, :class:`Uncertainty`, with the spreads and rates that
:func:`vpp_sched.scenario.sampling.sample_day` draws sampled days from (``vpp-sched evaluate``,
``vpp-sched replay`` without ``--actuals``, the robust plan's margins). Where the shipped data
allow, the defaults are fitted to them; ``models/uncertainty.md`` says which and how.
Like the rest of the configuration, unknown keys are refused.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Uncertainty(BaseModel):
    """Spreads and rates of the forecast errors of one day (``models/uncertainty.md``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    arrival_shift_sd_min: float = Field(20.0, ge=0, le=1440, description="Spread of an EV's actual arrival "
                                        "around its forecast, normal, whole minutes [min]")
    departure_shift_sd_min: float = Field(30.0, ge=0, le=1440, description="Spread of an EV's actual departure "
                                          "around its forecast, normal, whole minutes; at least one slot after "
                                          "the arrival [min]")
    energy_error_sd: float = Field(0.15, ge=0, le=10, description="Spread of the factor on an EV's forecast "
                                   "energy, normal around 1, at least 0 [-]")
    no_show_probability: float = Field(0.03, ge=0, le=1, description="Probability that a forecast session does "
                                       "not happen [-]")
    unannounced_rate: float = Field(0.03, ge=0, le=1, description="Expected unannounced sessions per forecast "
                                    "session (Poisson), drawn from the ElaadNL home statistics [-]")
    base_load_error_sd: float = Field(0.10, ge=0, le=10, description="Spread of the relative base-load error "
                                      "per transformer and slot (stationary AR(1)) [-]")
    base_load_error_ar1: float = Field(0.75, ge=0, lt=1, description="Correlation of the base-load error of "
                                       "consecutive slots, fitted to SimBench [-]")
    pv_factor_mean: float = Field(0.9, ge=0, le=1, description="Mean of the factor on the PV forecast (cloud "
                                  "factor; the forecast is clear sky unless weather is given) [-]")
    pv_factor_sd: float = Field(0.15, ge=0, le=10, description="Spread of the PV factor, clipped to [0, 1] [-]")
    pv_factor_ar1: float = Field(0.95, ge=0, lt=1, description="Correlation of the PV factor of consecutive "
                                 "slots [-]")
    dr_late_notice_probability: float = Field(0.0, ge=0, le=1, description="Probability that a DR event is "
                                              "notified only dr_late_notice_min before its start [-]")
    dr_late_notice_min: float = Field(60.0, ge=0, le=1440, description="How long before its start a late "
                                      "notice comes [min]")
    # The sites (issue 14): swap demand and fast-charging arrivals (vpp_sched/scenario/sampling_sites.py).
    swap_demand_error_sd: float = Field(0.15, ge=0, le=10, description="Spread of the relative error of a swap "
                                        "station's expected swaps per slot (stationary AR(1)); the slot's swaps are "
                                        "then Poisson of the perturbed expectation [-]")
    swap_demand_error_ar1: float = Field(0.9, ge=0, lt=1, description="Correlation of the swap-demand error of "
                                         "consecutive slots [-]")
    fast_arrivals_error_sd: float = Field(0.25, ge=0, le=10, description="Spread of the relative error of a "
                                          "fast-charging station's arrivals per hour (stationary AR(1)) [-]")
    fast_arrivals_error_ar1: float = Field(0.9, ge=0, lt=1, description="Correlation of the fast-charging arrivals "
                                           "error of consecutive slots [-]")
    # The robust plan (plan --robust, evaluate's robust policy): its chance constraint (models/uncertainty.md).
    robust_epsilon: float = Field(0.05, gt=0, lt=1, description="Share of days on which a transformer may pass "
                                  "its limit when the robust plan loads it up to its reduced limit [-]")
    robust_scenarios: int = Field(200, ge=10, le=100_000, description="Sampled days the robust margins are "
                                  "taken from [-]")
    robust_margin_cny_per_kwh: float = Field(50.0, gt=0, le=1e6, description="Price of using the margin: "
                                             "above energy prices, below the unmet-energy penalty, so EVs are "
                                             "served before the margin is kept [CNY/kWh]")
    # The slot controller of evaluate's replan and robust (vpp_sched/studies/slot_control.py).
    catch_up_overload_pct: float = Field(0.0, ge=0, le=50, description="How far above its limit the slot "
                                         "controller may load a transformer for catch-up power only (an EV "
                                         "whose request no longer fits its stay otherwise), in % of the limit; "
                                         "0, the default, keeps every limit [%]")
