"""``report.html`` of a plan: page shell and number formats, figures."""
