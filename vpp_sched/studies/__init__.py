"""Studies over many plans: flexibility envelope, replay on actuals, what-if, hosting capacity, their tables and reports."""
