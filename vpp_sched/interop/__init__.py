"""Data in and out of other systems: OCPP charging profiles, OpenADR 2.0b events, SimBench grids."""
