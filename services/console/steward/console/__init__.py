"""Steward web console (工作台): a backend-for-frontend over the services' public REST APIs."""
