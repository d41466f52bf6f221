"""The REST API's routes, one module per resource; :mod:`.common` holds auth, errors and the db session."""
