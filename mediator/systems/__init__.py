"""One connector per external product, run as a system actor."""

from mediator.systems.actor import SystemActor
from mediator.systems.connector import Command, Connector, ConnectorStatistics
from mediator.systems.harvest import HarvestConnector
from mediator.systems.http import EndpointCalls, HttpResponse, HttpTransport, TransportStatistics
from mediator.systems.salesforce import SalesforceConnector
from mediator.systems.secrets import Secret, load_secret
from mediator.systems.stripe import StripeConnector
from mediator.systems.tryton import TrytonConnector

__all__ = [
    "Command",
    "Connector",
    "ConnectorStatistics",
    "EndpointCalls",
    "HarvestConnector",
    "HttpResponse",
    "HttpTransport",
    "SalesforceConnector",
    "Secret",
    "StripeConnector",
    "SystemActor",
    "TransportStatistics",
    "TrytonConnector",
    "load_secret",
]
