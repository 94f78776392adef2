"""Faithful local simulators of Salesforce, Harvest, Stripe and Tryton, with fault injection."""

__all__: list[str] = []
