"""LV grids as pandapower nets and their AC power flow (a layer between ``problem`` and ``model``)."""
