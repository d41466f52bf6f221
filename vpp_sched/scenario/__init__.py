"""Inputs: ``scenario.yaml`` (pydantic), the CSV tables, the scenario loader, time helpers, the synthetic scenario generator."""
