"""The day-ahead plan: the pipeline, plan tables and KPIs, the validity check, atomic writing, the plan folder's JSON Schema."""
