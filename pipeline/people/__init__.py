"""People: grades, development plans, validation against human QA, reports, exemplary-call library."""
